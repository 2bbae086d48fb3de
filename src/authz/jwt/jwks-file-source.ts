import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { ConfigError, errorMessage } from '../../shared/errors.js';
import { watchDirectory, type DirectoryWatch } from '../../shared/file-watch.js';
import { parseJwks } from './jwks-schema.js';
import type { KeySource } from './key-source.js';

/** Options of {@link JwksFileSource}. */
export interface JwksFileSourceOptions {
  /** Told when a changed file could not be used (the previous keys stay in use). */
  readonly onError?: (err: Error) => void;
  /** Told when new keys are in use. */
  readonly onReload?: (kids: readonly string[]) => void;
}

/** Fallback poll interval, for filesystems whose watch events are unreliable. */
const POLL_MS = 10_000;
/** The shortest gap between two refreshes asked for by unknown key ids. */
const REFRESH_GAP_MS = 1000;

interface FileStamp {
  readonly mtimeMs: number;
  readonly size: number;
  readonly ino: number;
}

/**
 * The keys in a JWKS file (setting JWKS_FILE, `$ZT_PKI_DIR/jwt/jwks.json`), kept current without a
 * restart. The rotator replaces the file by rename, so its directory is watched (watchDirectory,
 * with a slow poll as a fallback); the file is re-read when its inode, size or mtime moved, and
 * only a changed, valid key set replaces the old one. A bad file is reported and the old keys stay.
 */
export class JwksFileSource implements KeySource {
  readonly kind = 'file';
  readonly getKey: JWTVerifyGetKey;
  #set: JWTVerifyGetKey;
  #text: string;
  #stamp: FileStamp;
  #watch: DirectoryWatch | undefined;
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

  /** Starts watching the file's directory, with a slow poll as a fallback. Idempotent. */
  watch(): this {
    if (this.#closed) return this;
    const name = basename(this.path);
    this.#watch ??= watchDirectory(dirname(this.path), () => void this.#recheck(), {
      pollMs: POLL_MS,
      // The file itself, and the temporary name the rotator writes before the rename.
      filter: (file) => file === name || file.startsWith(`${name}.`),
      onError: (err) => this.options.onError?.(err),
    });
    return this;
  }

  isReady(): boolean {
    return !this.#closed;
  }

  async refresh(): Promise<boolean> {
    const now = Date.now();
    if (now - this.#lastRefresh < REFRESH_GAP_MS) return this.#checking ?? false;
    this.#lastRefresh = now;
    return this.#recheck();
  }

  /** Re-reads the file if it moved; resolves true when a new key set is in use. */
  #recheck(): Promise<boolean> {
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
    this.#watch?.close();
    this.#watch = undefined;
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
}
