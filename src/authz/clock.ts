/**
 * The service's one source of wall-clock time. Token expiry (jose's `currentDate`, the verified-token
 * cache) and the policy's `now_ms` read it, so a test can move time without waiting.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

/** The real clock. */
export const systemClock: Clock = { nowMs: () => Date.now() };
