/**
 * The rating stream's handshake and its open streams. `GET .../ratings/stream` is an ordinary route
 * of the rating API: the upgrade request reaches it through the app's pipeline (serveUpgrades), so
 * only an edge peer gets this far, and every refusal is the API's usual `{error, request_id}`
 * answer before any upgrade. In order: the caller, the path, the tenant and a reading role (as a
 * GET), then a WebSocket upgrade (426 otherwise), a usable handshake (400), the token the edge
 * forwarded (for its `exp`), the subject's stream limit (429), the subscription and the snapshot
 * (503 when the store or the feed cannot serve), and only then the 101.
 *
 * The subprotocol: when the client offers any, it must offer `zt-ratings.v1`, which is the one
 * selected; a `bearer.<token>` entry is never echoed back.
 */
import type { IRouter, Request } from 'express';
import { decodeJwt } from 'jose';
import { WebSocketServer, type WebSocket } from 'ws';
import { errorMessage } from '../../shared/errors.js';
import { bearerToken, offeredSubprotocols, STREAM_SUBPROTOCOL } from '../../shared/http/bearer-token.js';
import { requestIdFrom } from '../../shared/http/request-id.js';
import { takeUpgrade, upgradeOf } from '../../shared/http/upgrade.js';
import type { Logger } from '../../shared/logger.js';
import { peerOfKind } from '../../shared/tls/peer-identity.js';
import type { StreamConfig } from '../config.js';
import type { RatingFeed } from '../feed/rating-feed.js';
import { ratingError, type FieldError } from '../rating-errors.js';
import type { RatingChange, RatingStore } from '../rating-store.js';
import { authorise } from '../routes.js';
import { CLOSE_CODES } from './stream-messages.js';
import { StreamSession, type ClosedHow, type StreamContext } from './stream-session.js';
import type { RecheckInput, RecheckOutcome } from './token-recheck.js';

export const STREAM_PATH = '/v1/tenants/:tenant/items/:item/ratings/stream';

export interface StreamServerDeps {
  readonly config: StreamConfig;
  readonly trustDomain: string;
  readonly store: RatingStore;
  readonly feed: RatingFeed;
  readonly logger: Logger;
  readonly recheck: (input: RecheckInput) => Promise<RecheckOutcome>;
}

/** How long shutting down waits for streams to finish their close handshakes. */
const SHUTDOWN_GRACE_MS = 2000;

export class StreamServer {
  readonly #wss: WebSocketServer;
  readonly #sessions = new Set<StreamSession>();
  /** Open and opening streams per `tenant/subject`. */
  readonly #perSubject = new Map<string, number>();

  constructor(private readonly deps: StreamServerDeps) {
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // Compression would let a small frame cost a lot of memory and CPU; aggregates are small.
      perMessageDeflate: false,
      maxPayload: deps.config.maxFrameBytes,
      handleProtocols: (offered) => (offered.has(STREAM_SUBPROTOCOL) ? STREAM_SUBPROTOCOL : false),
    });
    this.#wss.on('headers', (headers, req) => headers.push(`x-request-id: ${requestIdFrom(req.headers['x-request-id'])}`));
    deps.feed.onGap(() => {
      for (const s of this.#sessions) s.resync('the feed reconnected');
    });
  }

  /** How many streams are open. */
  get open(): number {
    return this.#sessions.size;
  }

  /** Adds the handshake route to `router`, before the rating routes (`ratings/stream` would read as a user). */
  routes(router: IRouter): void {
    router.get(STREAM_PATH, async (req, res) => {
      const { caller, params } = authorise(req, 'read');
      const upgrade = upgradeOf(req);
      if (upgrade === undefined) throw ratingError('upgrade_required', { headers: { upgrade: 'websocket' } });
      const problems = handshakeProblems(req);
      if (problems.length > 0) throw ratingError('invalid_request', { fields: problems });
      const bearer = bearerToken(req.headers);
      if (bearer.kind !== 'token') throw ratingError('missing_identity', { cause: new Error(`the edge forwarded no usable token: ${bearer.kind === 'invalid' ? bearer.why : 'none'}`) });
      const claims = tokenClaims(bearer.token);
      if (claims.subject !== caller.subject) throw ratingError('missing_identity', { cause: new Error('the token and x-zt-subject name different subjects') });
      const edge = peerOfKind(req.socket, this.deps.trustDomain, 'edge');
      if (edge === undefined) throw ratingError('untrusted_peer');

      const who = `${caller.tenant}/${caller.subject}`;
      const held = this.#perSubject.get(who) ?? 0;
      if (held >= this.deps.config.maxPerSubject) throw ratingError('too_many_streams', { headers: { 'retry-after': '1' } });
      this.#perSubject.set(who, held + 1);
      let session: StreamSession | undefined;
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        const n = (this.#perSubject.get(who) ?? 1) - 1;
        if (n <= 0) this.#perSubject.delete(who);
        else this.#perSubject.set(who, n);
      };

      const early: RatingChange[] = [];
      let subscription;
      try {
        subscription = await this.deps.feed.subscribe(params, (change) => (session === undefined ? early.push(change) : session.onChange(change)));
      } catch (err) {
        release();
        throw err;
      }
      let snapshot;
      try {
        snapshot = await this.deps.store.snapshot(params);
      } catch (err) {
        subscription.unsubscribe();
        release();
        throw err;
      }
      const { socket, head } = takeUpgrade(req);
      if (res.socket === socket) res.detachSocket(socket as never);
      // The handshake may still fail (a client that went away): nothing must stay behind.
      socket.once('close', () => {
        if (session !== undefined) return;
        subscription.unsubscribe();
        release();
      });
      const ctx: StreamContext = {
        streamId: requestIdFrom(req.headers['x-request-id']),
        caller,
        key: params,
        path: req.path,
        edge: edge.uri,
        xfcc: String(req.headers['x-forwarded-client-cert'] ?? ''),
        expiresAtMs: claims.expiresAtMs,
      };
      this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        const s = new StreamSession(ws, ctx, {
          config: this.deps.config,
          store: this.deps.store,
          logger: this.deps.logger,
          recheck: this.deps.recheck,
          tokenClaims,
          onClosed: (closed, how) => {
            this.#sessions.delete(closed);
            release();
            this.#logClosed(closed, how);
          },
        });
        session = s;
        this.#sessions.add(s);
        this.deps.logger.info(
          {
            event: 'opened',
            stream_id: ctx.streamId,
            subject: caller.subject,
            client_spiffe_id: caller.client ?? null,
            tenant: params.tenant,
            item: params.item,
            edge_spiffe_id: edge.uri,
            roles: caller.roles.join(','),
            subprotocol: ws.protocol === '' ? null : ws.protocol,
            token_from: bearer.from,
            expires_at: new Date(claims.expiresAtMs).toISOString(),
            open_streams: this.#sessions.size,
          },
          'stream',
        );
        s.start(snapshot, subscription, early);
      });
    });
  }

  /**
   * Closes every stream with 1001 (the server is going away) and waits for them, at most
   * SHUTDOWN_GRACE_MS; then cuts what is left.
   */
  async closeAll(): Promise<void> {
    if (this.#sessions.size === 0) return;
    const all = [...this.#sessions];
    const done = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (all.every((s) => !this.#sessions.has(s))) {
          clearInterval(check);
          resolve();
        }
      }, 20);
      setTimeout(() => {
        clearInterval(check);
        resolve();
      }, SHUTDOWN_GRACE_MS).unref();
    });
    for (const s of all) s.close(CLOSE_CODES.goingAway, 'the server is shutting down; reconnect');
    await done;
  }

  #logClosed(s: StreamSession, how: ClosedHow): void {
    const { ctx } = s;
    this.deps.logger.info(
      {
        event: 'closed',
        stream_id: ctx.streamId,
        subject: s.caller.subject,
        client_spiffe_id: s.caller.client ?? null,
        tenant: ctx.key.tenant,
        item: ctx.key.item,
        close_code: how.code,
        close_reason: how.reason,
        closed_by: how.by,
        duration_ms: Math.round(performance.now() - s.openedAt),
        messages_in: s.messagesIn,
        messages_out: s.messagesOut,
        bytes_out: s.sentBytes,
        unread_bytes: s.sentBytes - s.readBytes,
        buffered_bytes: s.buffered,
        open_streams: this.#sessions.size,
      },
      'stream',
    );
  }
}

/** What ws itself would refuse, refused first with field errors in the API's own error shape. */
function handshakeProblems(req: Request): FieldError[] {
  const problems: FieldError[] = [];
  if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') problems.push({ path: 'upgrade', message: 'must be websocket' });
  if (req.headers['sec-websocket-version'] !== '13') problems.push({ path: 'sec-websocket-version', message: 'must be 13' });
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[+/0-9A-Za-z]{22}==$/.test(key.trim())) problems.push({ path: 'sec-websocket-key', message: 'must be 16 bytes in base64' });
  const offered = offeredSubprotocols(req.headers['sec-websocket-protocol']);
  if (offered.length > 0 && !offered.includes(STREAM_SUBPROTOCOL)) problems.push({ path: 'sec-websocket-protocol', message: `must offer ${STREAM_SUBPROTOCOL}` });
  if (offered.some((p) => !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p))) problems.push({ path: 'sec-websocket-protocol', message: 'entries must be tokens (RFC 6455)' });
  return problems;
}

/**
 * The `exp` (in ms) and `sub` of a token authz has just allowed for this very request: read, not
 * verified again (authz did that, and the edge forwards only what it allowed).
 */
function tokenClaims(token: string): { expiresAtMs: number; subject: string } {
  try {
    const payload = decodeJwt(token);
    if (typeof payload.exp !== 'number' || typeof payload.sub !== 'string') throw new Error('the token has no exp or sub');
    return { expiresAtMs: payload.exp * 1000, subject: payload.sub };
  } catch (err) {
    throw ratingError('missing_identity', { cause: new Error(`the forwarded token cannot be read: ${errorMessage(err)}`) });
  }
}
