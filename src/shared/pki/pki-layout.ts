import { join } from 'node:path';

/** The workload whose directory holds Redis's certificate and the ACL file generated for it. */
export const REDIS_SERVER_WORKLOAD = 'redis';

/** The file beside `key.pem` in a Redis user's version directory: that version's ACL password. */
export const REDIS_PASSWORD_FILE = 'redis-password';

/**
 * The file layout under ZT_PKI_DIR, exactly as the README's "The PKI" states it. Every path any
 * component uses comes from here, so the layout is written down once. A workload's files are read
 * through {@link readWorkloadMaterial}, which resolves `current` once: there is deliberately no
 * `current/cert.pem` path here, since reading the certificate and the key through two resolutions
 * of the link can straddle a rotation.
 *
 * Secrets and public files live apart, so that what a consumer mounts holds nothing it must not
 * read: the root key sits in a directory of its own (ZT_PKI_ROOT_DIR, default `root/`), which only
 * `pki init` and `pki renew-intermediate` read; the JWKS is published in `jwks/`, away from the
 * signing keys in `jwt/`.
 */
export class PkiLayout {
  /** `rootDir`: where the root key lives (ZT_PKI_ROOT_DIR); default `<dir>/root`. */
  constructor(
    readonly dir: string,
    readonly rootDir: string = join(dir, 'root'),
  ) {}

  get caDir(): string { return join(this.dir, 'ca'); }
  get rootCert(): string { return join(this.caDir, 'root.crt'); }
  /** The root CA's key: read only by `pki init` and `pki renew-intermediate`, never by the rotator. */
  get rootKey(): string { return join(this.rootDir, 'root.key'); }
  /** Where the root key lived before it moved out of `ca/`; `pki init` moves it. */
  get legacyRootKey(): string { return join(this.caDir, 'root.key'); }
  get intermediateCert(): string { return join(this.caDir, 'intermediate.crt'); }
  get intermediateKey(): string { return join(this.caDir, 'intermediate.key'); }
  /** The trust anchors every verifier loads. */
  get bundle(): string { return join(this.caDir, 'bundle.crt'); }

  workloadDir(workload: string): string { return join(this.dir, workload); }
  /** `<workload>/current`, the symlink swapped atomically at each rotation. */
  current(workload: string): string { return join(this.dir, workload, 'current'); }
  /** The ACL file redis-server loads (`aclfile`): one user per service, SHA-256 password hashes only. */
  get redisAcl(): string { return join(this.workloadDir(REDIS_SERVER_WORKLOAD), 'users.acl'); }

  get jwtDir(): string { return join(this.dir, 'jwt'); }
  get jwtCurrent(): string { return join(this.jwtDir, 'current'); }
  /** When each JWT key was made and retired, so rotation knows when an old public key may go. */
  get jwtState(): string { return join(this.jwtDir, 'state.json'); }
  /** The public directory the JWKS is published in: what authz mounts, without the signing keys. */
  get jwksDir(): string { return join(this.dir, 'jwks'); }
  get jwks(): string { return join(this.jwksDir, 'jwks.json'); }
  /** Where the JWKS was published before it left `jwt/`; the next JWT rotation removes it. */
  get legacyJwks(): string { return join(this.jwtDir, 'jwks.json'); }

  /** The lock that keeps two writers (init, issue, rotate) from running at once. */
  get lockFile(): string { return join(this.dir, '.lock'); }
}
