import { createRemoteJWKSet, type JWTVerifyGetKey, type RemoteJWKSet } from 'jose';
import { errorMessage } from '../../shared/errors.js';
import type { KeySource } from './key-source.js';

/** Options of {@link JwksUrlSource}. */
export interface JwksUrlSourceOptions {
  /** Per-fetch timeout. Default 2,000 ms. */
  readonly timeoutMs?: number;
  /** How long fetched keys are used before a refetch. Default 10 minutes. */
  readonly cacheMaxAgeMs?: number;
  /** Minimum gap between two fetches caused by unknown key ids. Default 30 s (jose's default). */
  readonly cooldownMs?: number;
  /** Retry interval while the first fetch keeps failing. Default 5 s. */
  readonly retryMs?: number;
  readonly onError?: (err: Error) => void;
}

/**
 * The keys behind an identity provider's JWKS URL (setting JWKS_URL), through jose's
 * `createRemoteJWKSet`, which caches them, refetches when they age and, with a cooldown, when a token
 * names an unknown key. The first fetch starts at once and is retried until it succeeds; the
 * service is not ready before that.
 */
export class JwksUrlSource implements KeySource {
  readonly kind = 'url';
  readonly getKey: JWTVerifyGetKey;
  readonly #set: RemoteJWKSet;
  readonly #listeners: Array<() => void> = [];
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    readonly url: URL,
    private readonly options: JwksUrlSourceOptions = {},
  ) {
    this.#set = createRemoteJWKSet(url, {
      timeoutDuration: options.timeoutMs ?? 2000,
      cacheMaxAge: options.cacheMaxAgeMs ?? 600_000,
      cooldownDuration: options.cooldownMs ?? 30_000,
    });
    this.getKey = this.#set;
  }

  /** Starts the first fetch; resolves when it succeeded or failed (failures are retried). */
  async start(): Promise<void> {
    await this.#load();
  }

  isReady(): boolean {
    return !this.#closed && this.#set.jwks() !== undefined;
  }

  refresh(): Promise<boolean> {
    // jose refetches on an unknown kid by itself, within its cooldown.
    return Promise.resolve(false);
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  close(): void {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
  }

  async #load(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#set.reload();
      for (const listener of this.#listeners) listener();
    } catch (err) {
      this.options.onError?.(new Error(`cannot fetch the JWKS from ${this.url.href}: ${errorMessage(err)}`));
      this.#retry = setTimeout(() => void this.#load(), this.options.retryMs ?? 5000);
      this.#retry.unref();
    }
  }
}
