import { join } from 'node:path';

/**
 * The file layout under ZT_PKI_DIR, exactly as docs/architecture.md states it. Every path any
 * component uses comes from here, so the layout is written down once. A workload's files are read
 * through {@link readWorkloadMaterial}, which resolves `current` once: there is deliberately no
 * `current/cert.pem` path here, since reading the certificate and the key through two resolutions
 * of the link can straddle a rotation.
 */
export class PkiLayout {
  constructor(readonly dir: string) {}

  get caDir(): string { return join(this.dir, 'ca'); }
  get rootCert(): string { return join(this.caDir, 'root.crt'); }
  get rootKey(): string { return join(this.caDir, 'root.key'); }
  get intermediateCert(): string { return join(this.caDir, 'intermediate.crt'); }
  get intermediateKey(): string { return join(this.caDir, 'intermediate.key'); }
  /** The trust anchors every verifier loads. */
  get bundle(): string { return join(this.caDir, 'bundle.crt'); }

  workloadDir(workload: string): string { return join(this.dir, workload); }
  /** `<workload>/current`, the symlink swapped atomically at each rotation. */
  current(workload: string): string { return join(this.dir, workload, 'current'); }

  get jwtDir(): string { return join(this.dir, 'jwt'); }
  get jwtCurrent(): string { return join(this.jwtDir, 'current'); }
  get jwks(): string { return join(this.jwtDir, 'jwks.json'); }
  /** When each JWT key was made and retired, so rotation knows when an old public key may go. */
  get jwtState(): string { return join(this.jwtDir, 'state.json'); }

  /** The lock that keeps two writers (init, issue, rotate) from running at once. */
  get lockFile(): string { return join(this.dir, '.lock'); }
}
