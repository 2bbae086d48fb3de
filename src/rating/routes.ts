import type { IRouter, NextFunction, Request, Response } from 'express';
import { requestIdFrom } from '../shared/http/request-id.js';
import type { Logger } from '../shared/logger.js';
import { checkRole, checkTenant } from './access.js';
import { viewOf } from './aggregate.js';
import { callerFrom, type Caller } from './caller.js';
import { methodNotAllowed } from './error-handler.js';
import { readJsonBody } from './json-body.js';
import { sendJson } from './json-response.js';
import type { ItemKey, RatingStore } from './rating-store.js';
import { deleteRating, storedRating, writeRating } from './rating-writes.js';
import { ID_SOURCE, itemParamsSchema, parseOrReject, ratingBodySchema, userParamsSchema } from './validation.js';

const RATINGS_PATH = '/v1/tenants/:tenant/items/:item/ratings';
const USER_RATING_PATH = '/v1/tenants/:tenant/items/:item/ratings/:user';

/**
 * `/v1/tenants/{tenant}/items/{item}/ratings`, with or without a query, whose ids already have
 * ID_PATTERN's shape: nothing in them to percent-decode or to reject. The router would match the
 * same path to the same route with the same params.
 */
const PLAIN_RATINGS_URL = new RegExp(`^/v1/tenants/(${ID_SOURCE})/items/(${ID_SOURCE})/ratings(?:\\?|$)`);

/**
 * Sends a GET or POST of `.../ratings` with a plain path straight to its handler, and says whether
 * it did; anything else is the router's.
 */
export type RatingsShortcut = (req: Request, res: Response, next: NextFunction) => boolean;

interface RatingRoutesDeps {
  readonly store: RatingStore;
  readonly logger: Logger;
}

/** The rating endpoints: the routes, and a shortcut to two of them. */
export interface RatingRoutes {
  /** Adds the routes to `router` (the app's own, so that a request is matched against one list of routes, not router after router). */
  addTo(router: IRouter): void;
  readonly shortcut: RatingsShortcut;
}

/**
 * The rating endpoints. Each handler goes through the same steps in the same order, so the answer
 * to a request with several faults is predictable: caller (401), path (400), tenant (403), role
 * (403), body (415/413/400), store (503). The body is read only after the caller is authorised.
 *
 * The shortcut leads to the two handlers that carry nearly every request: the app calls it
 * before routing, so that a read or write whose path is already valid is matched once, by one
 * pattern, instead of against every route in turn and then validated again. The routes stay the
 * definition of the API; the shortcut reaches the same handlers with the same params.
 */
export function ratingRoutes({ store, logger }: RatingRoutesDeps): RatingRoutes {
  const read = async (req: Request, res: Response, path?: ItemKey): Promise<void> => {
    const { params } = authorise(req, 'read', path);
    const aggregate = await store.aggregate(params);
    sendJson(req, res, 200, { item: params.item, ...viewOf(aggregate) });
  };
  const write = async (req: Request, res: Response, path?: ItemKey): Promise<void> => {
    const { caller, params } = authorise(req, 'write', path);
    const rating = storedRating(parseOrReject(ratingBodySchema, await readJsonBody(req, res)));
    const result = await writeRating({ store, logger, requestId: requestIdFrom(req.headers['x-request-id']), caller, key: params, via: 'rest' }, rating);
    sendJson(req, res, result.status, result.body);
  };

  const remove = async (req: Request, res: Response): Promise<void> => {
    const { caller, params } = authoriseDelete(req);
    const key = { tenant: params.tenant, item: params.item };
    await deleteRating({ store, logger, requestId: requestIdFrom(req.headers['x-request-id']), caller, key, via: 'rest' }, params.user);
    res.status(204).end();
  };

  const addTo = (router: IRouter): void => {
    router
      .route(RATINGS_PATH)
      .get((req, res) => read(req, res))
      .post((req, res) => write(req, res))
      .all(methodNotAllowed(['GET', 'HEAD', 'POST']));
    router.route(USER_RATING_PATH).delete(remove).all(methodNotAllowed(['DELETE']));
  };

  const shortcut: RatingsShortcut = (req, res, next) => {
    const method = req.method;
    if (method !== 'GET' && method !== 'POST') return false;
    const m = PLAIN_RATINGS_URL.exec(req.url);
    if (m === null) return false;
    const path: ItemKey = { tenant: m[1] ?? '', item: m[2] ?? '' };
    // As the router sets them, for anything that reads them after the handler's own checks.
    req.params = { ...path };
    (method === 'GET' ? read : write)(req, res, path).catch(next);
    return true;
  };
  return { addTo, shortcut };
}

/**
 * The caller, the validated path and the access checks of a read or write, in that order. `path`
 * is given when the ids are already known to be valid (the shortcut matched them), else the
 * router's params are validated here.
 */
export function authorise(req: Request, kind: 'read' | 'write', path?: ItemKey): { caller: Caller; params: ItemKey } {
  const caller = callerFrom(req.headers);
  const params = path ?? parseOrReject(itemParamsSchema, req.params);
  checkTenant(caller, params.tenant);
  checkRole(caller, { kind });
  return { caller, params };
}

/** The same for a delete, whose path also names the user whose rating goes. */
function authoriseDelete(req: Request): { caller: Caller; params: ItemKey & { user: string } } {
  const caller = callerFrom(req.headers);
  const params = parseOrReject(userParamsSchema, req.params);
  checkTenant(caller, params.tenant);
  checkRole(caller, { kind: 'delete', user: params.user });
  return { caller, params };
}

/** Adds `GET /healthz` on the mTLS listener, for an edge's upstream health checks. */
export function healthRoutes(router: IRouter): void {
  router
    .route('/healthz')
    .get((req: Request, res: Response) => {
      sendJson(req, res, 200, { status: 'ok' });
    })
    .all(methodNotAllowed(['GET', 'HEAD']));
}
