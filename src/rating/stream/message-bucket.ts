/**
 * One connection's message budget: a token bucket of `capacity` messages refilled at `perSecond`,
 * full at the start. It lives in the connection (one socket is served by one process), so there is
 * nothing to share and nothing to store; the per-subject connection limit caps how many buckets a
 * subject can hold.
 */
export class MessageBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly capacity: number,
    readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#tokens = capacity;
    this.#at = now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is back (0 when there is one now). */
  msUntilNext(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.perSecond) * 1000);
  }

  #refill(): void {
    const now = this.now();
    this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
  }
}
