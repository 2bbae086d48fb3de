import type { Claims } from './claims.js';

interface Entry {
  readonly claims: Claims;
  /** The token's `exp` in milliseconds: the entry is dead from then on. */
  readonly expMs: number;
}

/**
 * Verified tokens by the SHA-256 of the token text, so that a repeat token skips the signature check
 * (an ES256 verify costs ~90 µs; a hash and a map lookup a few). Bounded, least recently used first
 * out, using a Map's insertion order. An entry is served only while the clock is before its `exp`,
 * checked on every hit: the cache never extends a token's life, not even by the clock tolerance.
 */
export class TokenCache {
  readonly #entries = new Map<string, Entry>();

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The claims of a live entry, or undefined (and a dead entry is dropped). */
  get(key: string, nowMs: number): Claims | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (nowMs >= entry.expMs) return undefined;
    this.#entries.set(key, entry); // most recently used goes last
    return entry.claims;
  }

  /** Keeps a verified token's claims until `expMs`; a no-op when the cache is disabled or it has expired. */
  set(key: string, claims: Claims, expMs: number, nowMs: number): void {
    if (this.maxEntries <= 0 || nowMs >= expMs) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { claims, expMs });
  }

  clear(): void {
    this.#entries.clear();
  }
}
