/**
 * One open rating stream: what its client sees and may do, from the snapshot to the close.
 * - It sends the snapshot, then one `update` per change in `seq` order: a change the snapshot
 *   already holds is dropped, a jump in `seq` (or a gap the feed reports) re-reads a snapshot.
 * - Every client message takes a token from the connection's bucket; an empty bucket earns one
 *   `error` (`rate_limited`), and another message before a token is back closes with 1008.
 * - A frame that is not JSON text closes with 1003; a JSON message that breaks the schema gets an
 *   `error` with field errors; a `rate` or `delete` the caller's roles do not permit closes with
 *   4003, logged as a denied publish.
 * - What a slow client has not read yet is bounded, end to end: every `sendBufferBytes / 4` bytes
 *   (and with each keep-alive) the server pings with the count of bytes sent so far, and the
 *   client's pong, which it can only send once it has read everything before the ping, says how
 *   far it has read. A send that would leave more than `sendBufferBytes` unread (in this process,
 *   in kernel buffers or in an edge) closes with 1013; so does one that would queue more than that
 *   in this process, whatever pongs a client sends.
 * - The token's `exp` plus the grace closes with 4001, unless a `refresh` (decided by authz, as
 *   the handshake was) moved it.
 * - A ping every `pingIntervalMs`; a client that did not answer the previous one is dropped.
 * One log line when it closes (the open line is the server's), with the close code and duration.
 */
import type { RawData, WebSocket } from 'ws';
import { AppError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { checkRole } from '../access.js';
import { viewOf } from '../aggregate.js';
import type { Caller } from '../caller.js';
import type { StreamConfig } from '../config.js';
import type { Subscription } from '../feed/rating-feed.js';
import { ratingError } from '../rating-errors.js';
import type { ItemKey, ItemSnapshot, RatingChange, RatingStore } from '../rating-store.js';
import { deleteRating, storedRating, writeRating, type WriteContext } from '../rating-writes.js';
import { parseOrReject } from '../validation.js';
import { MessageBucket } from './message-bucket.js';
import { CLOSE_CODES, clientMessageSchema, type ClientMessage, type ServerMessage } from './stream-messages.js';
import type { RecheckInput, RecheckOutcome } from './token-recheck.js';

/**
 * How long a closing stream may take to finish its close handshake before it is cut (the ws
 * library's own close timeout). A client that stopped reading gets its close frame (1013) after
 * what is queued for it, if it reads again within this time; what is held meanwhile is bounded by
 * the send buffer.
 */
const CLOSE_GRACE_MS = 30_000;

/** What the handshake established. */
export interface StreamContext {
  /** The handshake's request id; every log line of the stream carries it. */
  readonly streamId: string;
  readonly caller: Caller;
  readonly key: ItemKey;
  /** The stream path, for re-checks. */
  readonly path: string;
  /** The edge the stream came through (its SPIFFE ID), and the XFCC it set: what a re-check needs. */
  readonly edge: string;
  readonly xfcc: string;
  /** The handshake token's `exp`, in ms. */
  readonly expiresAtMs: number;
}

export interface SessionDeps {
  readonly config: StreamConfig;
  readonly store: RatingStore;
  readonly logger: Logger;
  readonly recheck: (input: RecheckInput) => Promise<RecheckOutcome>;
  /** Reads the claims of a token authz has just allowed: its `exp` in ms, and its `sub`. */
  readonly tokenClaims: (token: string) => { expiresAtMs: number; subject: string };
  /** Told once, when the socket has closed, with how and why. */
  readonly onClosed: (session: StreamSession, how: ClosedHow) => void;
}

export interface ClosedHow {
  readonly code: number;
  readonly reason: string;
  /** Who sent the close: the server, the client, or nobody (the connection dropped). */
  readonly by: 'server' | 'client' | 'none';
}

export class StreamSession {
  readonly openedAt = performance.now();
  messagesIn = 0;
  messagesOut = 0;
  /** Bytes of messages sent, and the most the client has confirmed reading (its last pong). */
  sentBytes = 0;
  readBytes = 0;
  #pingedAt = 0;
  #caller: Caller;
  #expiresAtMs: number;
  #lastSeq = 0;
  /** Changes held back while a snapshot is being read; undefined when none is. */
  #held: RatingChange[] | undefined;
  #subscription: Subscription | undefined;
  #expiry: NodeJS.Timeout | undefined;
  #pinger: NodeJS.Timeout | undefined;
  #killer: NodeJS.Timeout | undefined;
  #alive = true;
  #strike = false;
  #closing: { code: number; reason: string } | undefined;
  #closed = false;
  readonly #bucket: MessageBucket;

  constructor(
    private readonly ws: WebSocket,
    readonly ctx: StreamContext,
    private readonly deps: SessionDeps,
  ) {
    this.#caller = ctx.caller;
    this.#expiresAtMs = ctx.expiresAtMs;
    this.#bucket = new MessageBucket(deps.config.messageBurst, deps.config.messagesPerS);
  }

  get caller(): Caller {
    return this.#caller;
  }

  /** The bytes waiting to be sent to this client. */
  get buffered(): number {
    return this.ws.bufferedAmount;
  }

  /**
   * Starts serving: the snapshot the handshake read, then the changes that arrived meanwhile
   * (`held`, from the subscription the handshake opened before reading the snapshot).
   */
  start(snapshot: ItemSnapshot, subscription: Subscription, held: RatingChange[]): void {
    this.#subscription = subscription;
    this.ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    this.ws.on('pong', (data) => this.#onPong(data));
    this.ws.on('error', (err) => this.deps.logger.debug({ stream_id: this.ctx.streamId, err: errorMessage(err) }, 'stream_socket_error'));
    this.ws.once('close', (code, reason) => this.#onClose(code, reason.toString('utf8')));
    this.#pinger = setInterval(() => this.#ping(), this.deps.config.pingIntervalMs);
    this.#armExpiry();
    this.#sendSnapshot(snapshot, false);
    this.#held = undefined;
    for (const change of held) this.onChange(change);
  }

  /** A change of the item, from the feed, in `seq` order. */
  onChange(change: RatingChange): void {
    if (this.#held !== undefined) {
      this.#held.push(change);
      return;
    }
    if (change.seq <= this.#lastSeq) return;
    if (change.seq > this.#lastSeq + 1) {
      this.resync(`seq jumped from ${this.#lastSeq} to ${change.seq}`);
      return;
    }
    this.#lastSeq = change.seq;
    this.#sendText(updateText(change, this.ctx.key.item));
  }

  /** Changes may have been missed: read a snapshot, send it marked `resync`, then carry on from it. */
  resync(why: string): void {
    if (this.#held !== undefined || this.#closing !== undefined) return;
    this.#held = [];
    this.deps.logger.info({ stream_id: this.ctx.streamId, tenant: this.ctx.key.tenant, item: this.ctx.key.item, why }, 'stream_resync');
    this.deps.store.snapshot(this.ctx.key).then(
      (snapshot) => {
        const held = this.#held ?? [];
        this.#held = undefined;
        this.#sendSnapshot(snapshot, true);
        for (const change of held) this.onChange(change);
      },
      (err: unknown) => {
        this.#held = undefined;
        this.deps.logger.warn({ stream_id: this.ctx.streamId, err: errorMessage(err) }, 'stream_resync_failed');
        this.close(CLOSE_CODES.internalError, 'the item could not be re-read; reconnect');
      },
    );
  }

  /** Closes with `code` (the client gets the close frame after what is already queued). Idempotent. */
  close(code: number, reason: string): void {
    if (this.#closing !== undefined || this.#closed) return;
    // A close frame's reason has room for 123 bytes.
    const short = Buffer.from(reason).subarray(0, 123).toString('utf8').replace(/\uFFFD$/, '');
    this.#closing = { code, reason: short };
    this.#stopTimers();
    this.ws.close(code, short);
    // A client that reads nothing never acknowledges the close: cut it after the grace.
    this.#killer = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
  }

  #sendSnapshot(snapshot: ItemSnapshot, resync: boolean): void {
    this.#lastSeq = snapshot.seq;
    this.#send({
      type: 'snapshot',
      tenant: this.ctx.key.tenant,
      item: this.ctx.key.item,
      seq: snapshot.seq,
      aggregate: viewOf(snapshot.aggregate),
      expires_at: new Date(this.#expiresAtMs).toISOString(),
      resync,
    });
  }

  #send(message: ServerMessage): void {
    this.#sendText(JSON.stringify(message));
  }

  #sendText(text: string): void {
    if (this.#closing !== undefined || this.#closed) return;
    const size = Buffer.byteLength(text);
    const bound = this.deps.config.sendBufferBytes;
    if (this.sentBytes + size - this.readBytes > bound || this.ws.bufferedAmount + size > bound) {
      this.close(CLOSE_CODES.tryAgainLater, 'send buffer full: the client reads too slowly');
      return;
    }
    this.messagesOut += 1;
    this.sentBytes += size;
    this.ws.send(text);
    if (this.sentBytes - this.#pingedAt >= bound / 4) this.#sendPing();
  }

  /** A ping carrying the bytes sent so far: its pong proves the client read that far. */
  #sendPing(): void {
    this.#pingedAt = this.sentBytes;
    this.ws.ping(String(this.sentBytes));
  }

  #onPong(data: Buffer): void {
    this.#alive = true;
    const read = Number(data.toString('latin1'));
    // Only what was sent can have been read; an odd pong proves nothing.
    if (Number.isSafeInteger(read) && read <= this.sentBytes && read > this.readBytes) this.readBytes = read;
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#closing !== undefined) return;
    this.messagesIn += 1;
    if (!this.#bucket.take()) {
      if (this.#strike) {
        this.close(CLOSE_CODES.policyViolation, 'message rate exceeded');
      } else {
        this.#strike = true;
        this.#send({ type: 'error', ref: null, error: 'rate_limited', retry_after_ms: this.#bucket.msUntilNext() });
      }
      return;
    }
    this.#strike = false;
    if (isBinary) {
      this.close(CLOSE_CODES.unsupportedData, 'binary frames are not accepted: send JSON text');
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(rawText(data));
    } catch {
      this.close(CLOSE_CODES.unsupportedData, 'a frame that is not JSON');
      return;
    }
    const ref = refOf(value);
    let message: ClientMessage;
    try {
      message = parseOrReject(clientMessageSchema, value);
    } catch (err) {
      this.#replyError(ref, err);
      return;
    }
    this.#handle(message).catch((err: unknown) => this.#replyError(ref, err));
  }

  async #handle(message: ClientMessage): Promise<void> {
    switch (message.type) {
      case 'ping':
        this.#send({ type: 'pong', ref: message.id });
        return;
      case 'rate': {
        if (!this.#permits({ kind: 'write' }, message)) return;
        const result = await writeRating(this.#writeContext(), storedRating(message));
        this.#send({ type: 'result', ref: message.id, status: result.status, rating: result.body });
        return;
      }
      case 'delete': {
        if (!this.#permits({ kind: 'delete', user: message.user }, message)) return;
        await deleteRating(this.#writeContext(), message.user);
        this.#send({ type: 'result', ref: message.id, status: 204 });
        return;
      }
      case 'refresh':
        await this.#refresh(message.id, message.token);
        return;
    }
  }

  /** The role check of a publish; a refusal closes with 4003 and is logged. */
  #permits(action: Parameters<typeof checkRole>[1], message: ClientMessage): boolean {
    try {
      checkRole(this.#caller, action);
      return true;
    } catch (err) {
      const reason = err instanceof AppError ? err.code : 'forbidden_role';
      this.deps.logger.warn(
        { ...this.#who(), message_type: message.type, ...(action.kind === 'delete' ? { user: action.user } : {}), roles: this.#caller.roles.join(','), reason },
        'stream_publish_denied',
      );
      this.close(CLOSE_CODES.forbidden, `${reason}: the roles ${JSON.stringify(this.#caller.roles.join(','))} do not permit ${message.type}`);
      return false;
    }
  }

  /**
   * A fresh token, decided by authz exactly as the handshake's was. It must be the same subject's
   * in the same tenant; its roles replace the stream's, its `exp` the expiry.
   */
  async #refresh(ref: string, token: string): Promise<void> {
    const { caller: previous } = this;
    const outcome = await this.deps.recheck({ path: this.ctx.path, token, xfcc: this.ctx.xfcc, edge: this.ctx.edge });
    const base = { ...this.#who(), authz_request_id: outcome.requestId };
    if (outcome.kind === 'denied') {
      this.deps.logger.info({ ...base, reason: outcome.reason }, 'stream_refresh_denied');
      this.#send({ type: 'error', ref, error: outcome.reason });
      return;
    }
    const claims = this.deps.tokenClaims(token);
    if (outcome.caller.subject !== previous.subject || claims.subject !== previous.subject || outcome.caller.tenant !== previous.tenant) {
      this.deps.logger.warn({ ...base, token_subject: outcome.caller.subject, token_tenant: outcome.caller.tenant }, 'stream_refresh_denied');
      this.#send({ type: 'error', ref, error: 'subject_mismatch' });
      return;
    }
    this.#caller = { ...outcome.caller, client: previous.client };
    this.#expiresAtMs = claims.expiresAtMs;
    this.#armExpiry();
    this.deps.logger.info({ ...base, expires_at: new Date(claims.expiresAtMs).toISOString(), roles: this.#caller.roles.join(',') }, 'stream_refreshed');
    this.#send({ type: 'refreshed', ref, expires_at: new Date(claims.expiresAtMs).toISOString() });
  }

  #replyError(ref: string | null, err: unknown): void {
    const e = err instanceof AppError ? err : ratingError('internal_error', { cause: err });
    if (e.status >= 500) this.deps.logger.error({ ...this.#who(), code: e.code, err: errorMessage(e.cause ?? e) }, 'stream_message_failed');
    const fields = (e.details as { fields?: { path: string; message: string }[] } | undefined)?.fields;
    this.#send({ type: 'error', ref, error: e.code, ...(fields === undefined ? {} : { fields }) });
  }

  #writeContext(): WriteContext {
    return { store: this.deps.store, logger: this.deps.logger, requestId: this.ctx.streamId, caller: this.#caller, key: this.ctx.key, via: 'stream' };
  }

  #who(): Record<string, unknown> {
    const { streamId, key } = this.ctx;
    return { stream_id: streamId, subject: this.#caller.subject, client_spiffe_id: this.#caller.client ?? null, tenant: key.tenant, item: key.item };
  }

  #armExpiry(): void {
    clearTimeout(this.#expiry);
    const delay = Math.max(0, this.#expiresAtMs + this.deps.config.expiryGraceMs - Date.now());
    this.#expiry = setTimeout(() => this.close(CLOSE_CODES.tokenExpired, 'token expired: send a refresh before exp'), delay);
  }

  #ping(): void {
    if (!this.#alive) {
      this.deps.logger.info({ ...this.#who() }, 'stream_pong_missed');
      this.ws.terminate();
      return;
    }
    this.#alive = false;
    this.#sendPing();
  }

  #stopTimers(): void {
    clearTimeout(this.#expiry);
    clearInterval(this.#pinger);
  }

  #onClose(code: number, reason: string): void {
    this.#closed = true;
    this.#stopTimers();
    clearTimeout(this.#killer);
    this.#subscription?.unsubscribe();
    const sent = this.#closing;
    const how: ClosedHow = sent !== undefined ? { code: sent.code, reason: sent.reason, by: 'server' } : code === 1006 ? { code, reason: 'connection dropped', by: 'none' } : { code, reason, by: 'client' };
    this.deps.onClosed(this, how);
  }
}

/**
 * An update's text, made once per change however many streams of the item send it (the feed hands
 * every subscriber the same change object).
 */
const updateTexts = new WeakMap<RatingChange, string>();
function updateText(change: RatingChange, item: string): string {
  let text = updateTexts.get(change);
  if (text === undefined) {
    const message: ServerMessage = { type: 'update', item, seq: change.seq, change: change.change, aggregate: viewOf(change.aggregate) };
    text = JSON.stringify(message);
    updateTexts.set(change, text);
  }
  return text;
}

/** A frame's text: ws hands a text frame over as one Buffer (or fragments of it). */
function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

/** The correlation id of a message that may be invalid: its `id` when that is a short string. */
function refOf(value: unknown): string | null {
  const id = typeof value === 'object' && value !== null && 'id' in value ? value.id : undefined;
  return typeof id === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(id) ? id : null;
}
