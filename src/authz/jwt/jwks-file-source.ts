import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { ConfigError, errorMessage } from '../../shared/errors.js';
import { parseJwks } from './jwks-schema.js';
import type { KeySource } from './key-source.js';

/** Options of {@link JwksFileSource}. */
export interface JwksFileSourceOptions {
  /** Fallback poll interval for filesystems whose watch events are unreliable. Default 10 s. */
  readonly pollMs?: number;
  /** The shortest gap between two refreshes asked for by unknown key ids. Default 1 s. */
  readonly refreshGapMs?: number;
  /** Told when a changed file could not be used (the previous keys stay in use). */
  readonly onError?: (err: Error) => void;
  /** Told when new keys are in use. */
  readonly onReload?: (kids: readonly string[]) => void;
}

interface FileStamp {
  readonly mtimeMs: number;
  readonly size: number;
  readonly ino: number;
}

/**
 * The keys in a JWKS file (setting JWKS_FILE, `$ZT_PKI_DIR/jwt/jwks.json`), kept current without a
 * restart. The rotator replaces the file by rename, so the directory is watched (a watch on the file
 * would follow the old inode); the file is re-read when its inode, size or mtime moved, and only a
 * changed, valid key set replaces the old one. A bad file is reported and the old keys stay.
 */
export class JwksFileSource implements KeySource {
  readonly kind = 'file';
  readonly getKey: JWTVerifyGetKey;
  #set: JWTVerifyGetKey;
  #text: string;
  #stamp: FileStamp;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #checking: Promise<boolean> | undefined;
  #lastRefresh = 0;
  #closed = false;
  readonly #listeners: Array<() => void> = [];

  private constructor(
    readonly path: string,
    text: string,
    stamp: FileStamp,
    private readonly options: JwksFileSourceOptions,
  ) {
    this.#text = text;
    this.#stamp = stamp;
    this.#set = createLocalJWKSet(parseJwks(text));
    // A stable function: jose holds on to the resolver, the set behind it changes.
    this.getKey = (header, token) => this.#set(header, token);
  }

  /** Reads the file once; a missing or invalid file is a ConfigError naming JWKS_FILE. */
  static async load(path: string, options: JwksFileSourceOptions = {}): Promise<JwksFileSource> {
    let text: string;
    let stamp: FileStamp;
    try {
      [text, stamp] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    } catch (err) {
      throw new ConfigError('jwks_missing', `JWKS_FILE: cannot read ${path}: ${errorMessage(err)} (run: pki init)`, { cause: err });
    }
    try {
      return new JwksFileSource(path, text, stamp, options);
    } catch (err) {
      throw new ConfigError('jwks_invalid', `JWKS_FILE: ${path} is not a usable JWKS: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Starts watching the file's directory, with a slow poll as a fallback. */
  watch(): this {
    if (this.#watcher || this.#closed) return this;
    const name = basename(this.path);
    try {
      this.#watcher = watch(dirname(this.path), (_event, file) => {
        if (file === null || file === name || file.startsWith(`${name}.`)) this.#schedule();
      });
      this.#watcher.on('error', (err) => this.options.onError?.(err));
    } catch (err) {
      this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
    }
    this.#poll = setInterval(() => this.#schedule(), this.options.pollMs ?? 10_000);
    this.#poll.unref();
    return this;
  }

  isReady(): boolean {
    return !this.#closed;
  }

  async refresh(): Promise<boolean> {
    const now = Date.now();
    if (now - this.#lastRefresh < (this.options.refreshGapMs ?? 1000)) return this.#checking ?? false;
    this.#lastRefresh = now;
    return this.check();
  }

  /** Re-reads the file if it moved; resolves true when a new key set is in use. */
  check(): Promise<boolean> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#poll) clearInterval(this.#poll);
    if (this.#debounce) clearTimeout(this.#debounce);
  }

  async #check(): Promise<boolean> {
    try {
      const stamp = await stat(this.path);
      if (stamp.ino === this.#stamp.ino && stamp.size === this.#stamp.size && stamp.mtimeMs === this.#stamp.mtimeMs) return false;
      const text = await readFile(this.path, 'utf8');
      this.#stamp = stamp;
      if (text === this.#text) return false;
      const jwks = parseJwks(text);
      this.#set = createLocalJWKSet(jwks);
      this.#text = text;
      this.options.onReload?.(jwks.keys.map((k) => k.kid ?? '(no kid)'));
      for (const listener of this.#listeners) listener();
      return true;
    } catch (err) {
      this.options.onError?.(new Error(`keeping the previous keys: ${this.path}: ${errorMessage(err)}`));
      return false;
    }
  }

  #schedule(): void {
    // One rename is several directory events; read once after they settle.
    if (this.#closed) return;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.check(), 50);
    this.#debounce.unref();
  }
}
