import type { IRouter, Request, Response } from 'express';
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
import { itemParamsSchema, parseOrReject, ratingBodySchema, userParamsSchema } from './validation.js';

const RATINGS_PATH = '/v1/tenants/:tenant/items/:item/ratings';
const USER_RATING_PATH = '/v1/tenants/:tenant/items/:item/ratings/:user';

interface RatingRoutesDeps {
  readonly store: RatingStore;
  readonly logger: Logger;
}

/**
 * Adds the rating endpoints to `router` (the app's own, so that a request is matched against one
 * list of routes, not router after router). Each handler goes through the same steps in the same
 * order, so the answer to a request with several faults is predictable: caller (401), path (400),
 * tenant (403), role (403), body (415/413/400), store (503). The body is read only after the
 * caller is authorised.
 */
export function ratingRoutes(router: IRouter, { store, logger }: RatingRoutesDeps): void {
  router
    .route(RATINGS_PATH)
    .get(async (req, res) => {
      const { params } = authorise(req, 'read');
      const aggregate = await store.aggregate(params);
      sendJson(req, res, 200, { item: params.item, ...viewOf(aggregate) });
    })
    .post(async (req, res) => {
      const { caller, params } = authorise(req, 'write');
      const rating = storedRating(parseOrReject(ratingBodySchema, await readJsonBody(req, res)));
      const result = await writeRating({ store, logger, requestId: requestIdFrom(req.headers['x-request-id']), caller, key: params, via: 'rest' }, rating);
      sendJson(req, res, result.status, result.body);
    })
    .all(methodNotAllowed(['GET', 'HEAD', 'POST']));

  router
    .route(USER_RATING_PATH)
    .delete(async (req, res) => {
      const { caller, params } = authoriseDelete(req);
      const key = { tenant: params.tenant, item: params.item };
      await deleteRating({ store, logger, requestId: requestIdFrom(req.headers['x-request-id']), caller, key, via: 'rest' }, params.user);
      res.status(204).end();
    })
    .all(methodNotAllowed(['DELETE']));
}

/** The caller, the validated path and the access checks of a read or write, in that order. */
export function authorise(req: Request, kind: 'read' | 'write'): { caller: Caller; params: ItemKey } {
  const caller = callerFrom(req.headers);
  const params = parseOrReject(itemParamsSchema, req.params);
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
