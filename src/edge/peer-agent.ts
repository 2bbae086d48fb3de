/**
 * The edge's mTLS client side to one upstream (authz or the rating API): a keep-alive https.Agent
 * that presents the edge's own certificate and accepts only the one SPIFFE ID envoy.yaml's cluster
 * matches (`match_typed_subject_alt_names`). When the edge's certificate rotates, a new agent is
 * built with the new material; the old one finishes its in-flight requests and is then destroyed.
 * Every handshake that refuses the upstream's certificate is counted as Envoy counts it
 * (`cluster.<name>.ssl.fail_verify_error` or `.fail_verify_san`).
 */
import type { Duplex } from 'node:stream';
import { Agent, type RequestOptions } from 'node:https';
import { spiffeIdentityCheck } from '../shared/tls/spiffe-identity-check.js';
import { TLS_PROFILE } from '../shared/tls/tls-profile.js';
import type { TlsMaterial, WorkloadTls } from '../shared/tls/workload-tls.js';
import { verifyFailureOf, type VerifyFailure } from './stats.js';

/** Idle keep-alive connections are closed after this long (see the servers' keepAliveTimeout). */
const IDLE_TIMEOUT_MS = 60_000;

/** Safety net: an old agent whose requests never finish is destroyed after this long anyway. */
const DRAIN_LIMIT_MS = 60_000;

export class PeerAgent {
  #agent: Agent;
  #closed = false;
  readonly #draining = new Set<Agent>();
  readonly #onRotated = (m: TlsMaterial): void => this.#swap(m);

  /**
   * `servername` is the SNI to send (Envoy's cluster `sni`); '' sends none, which is what an IP
   * address needs. Setting it here also keeps Node from deriving it from the client's Host header.
   * `onVerifyFailure` hears of every handshake that refused the upstream's certificate.
   * `maxSockets` bounds the connections to the upstream (envoy.yaml's circuit breaker); requests
   * beyond wait for a free one.
   */
  constructor(
    private readonly tls: WorkloadTls,
    readonly expectedSpiffeId: string,
    private readonly servername: string,
    private readonly onVerifyFailure: (failure: VerifyFailure) => void = () => undefined,
    private readonly maxSockets = Infinity,
  ) {
    this.#agent = this.#build(tls.material);
    tls.on('rotated', this.#onRotated);
  }

  /** The agent for a new request: always the one holding the current certificate. */
  get agent(): Agent {
    return this.#agent;
  }

  /** Destroys every agent and stops following rotations. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.tls.off('rotated', this.#onRotated);
    this.#agent.destroy();
    for (const a of this.#draining) a.destroy();
    this.#draining.clear();
  }

  #build(m: TlsMaterial): Agent {
    const agent = new Agent({
      keepAlive: true,
      maxSockets: this.maxSockets,
      // Close idle connections before authz (65 s) or the rating API (75 s) does, so a request is
      // never written into a socket the server is closing.
      timeout: IDLE_TIMEOUT_MS,
      cert: m.cert,
      key: m.key,
      ca: m.ca,
      // The project's TLS profile (TLS 1.2+, forward-secret AEAD suites), as every client here speaks it.
      ...TLS_PROFILE,
      servername: this.servername,
      rejectUnauthorized: true,
      checkServerIdentity: spiffeIdentityCheck(this.expectedSpiffeId),
    });
    // The handshake's verdict reaches only the request that asked for the socket; watch the socket
    // itself so that each refused handshake is counted once, whoever asked.
    const create = agent.createConnection.bind(agent);
    agent.createConnection = (options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void) => {
      const socket = create(options, callback);
      socket?.once('error', (err) => {
        const failure = verifyFailureOf(err);
        if (failure !== undefined) this.onVerifyFailure(failure);
      });
      return socket;
    };
    return agent;
  }

  #swap(m: TlsMaterial): void {
    if (this.#closed) return;
    const old = this.#agent;
    this.#agent = this.#build(m);
    this.#drain(old);
  }

  /** Destroys `old` once nothing is in flight on it; idle keep-alive sockets go at once. */
  #drain(old: Agent): void {
    this.#draining.add(old);
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(limit);
      old.off('free', check);
      old.destroy();
      this.#draining.delete(old);
    };
    const limit = setTimeout(done, DRAIN_LIMIT_MS);
    limit.unref();
    function check(): void {
      // 'free' fires before the socket moves to the free list; look once the move is done.
      setImmediate(() => {
        for (const sockets of Object.values(old.freeSockets)) for (const s of sockets ?? []) s.destroy();
        if (Object.keys(old.sockets).length === 0 && Object.keys(old.requests).length === 0) done();
      });
    }
    old.on('free', check);
    check();
  }
}
