import { EventEmitter } from 'node:events';
import type { Server as HttpsServer } from 'node:https';
import type { Server as TlsServer } from 'node:tls';
import { readWorkloadMaterial, type WorkloadMaterial } from '../pki/workload-material.js';
import { PkiLayout } from '../pki/pki-layout.js';
import { errorMessage } from '../errors.js';
import { watchDirectory, type DirectoryWatch } from '../file-watch.js';

/** The PEM strings a Node TLS context needs. */
export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  readonly serial: string;
  /** The same version's Redis ACL password (its user is the workload's name); undefined if it is not a Redis user. */
  readonly redisPassword: string | undefined;
}

export interface WorkloadTlsEvents {
  rotated: [material: TlsMaterial, previousSerial: string];
  error: [err: Error];
}

/**
 * A workload's certificate, key and trust bundle, kept current. It watches `<workload>/` for the
 * rename that swaps `current` (the same move Envoy's SDS `watched_directory` notices) and polls as a
 * fallback for filesystems whose watch events are unreliable (some bind mounts). A new version is
 * read whole (resolve once, then read) and checked before anyone sees it; a bad one is reported and
 * the old material stays in use.
 */
export class WorkloadTls extends EventEmitter<WorkloadTlsEvents> {
  #material: TlsMaterial;
  #watch: DirectoryWatch | undefined;
  #reloading: Promise<void> | undefined;

  private constructor(
    readonly layout: PkiLayout,
    readonly workload: string,
    material: WorkloadMaterial,
  ) {
    super();
    this.#material = toTls(material);
  }

  /** Loads a workload's material; throws a ConfigError naming the file when it is missing or bad. */
  static async load(pkiDir: string, workload: string): Promise<WorkloadTls> {
    const layout = new PkiLayout(pkiDir);
    return new WorkloadTls(layout, workload, await readWorkloadMaterial(layout, workload));
  }

  get material(): TlsMaterial {
    return this.#material;
  }

  /** Starts watching for rotations. `pollMs` is the fallback interval. Idempotent. */
  watch(pollMs = 30_000): this {
    this.#watch ??= watchDirectory(this.layout.workloadDir(this.workload), () => void this.reload(), { pollMs, onError: (err) => this.emit('error', err) });
    return this;
  }

  /** Re-reads `current` now; resolves when done. Emits `rotated` if the serial changed. */
  async reload(): Promise<void> {
    this.#reloading ??= (async () => {
      try {
        const next = toTls(await readWorkloadMaterial(this.layout, this.workload));
        const previous = this.#material.serial;
        if (next.serial !== previous) {
          this.#material = next;
          this.emit('rotated', next, previous);
        }
      } catch (err) {
        this.emit('error', new Error(`keeping ${this.workload} serial ${this.#material.serial}: ${errorMessage(err)}`));
      } finally {
        this.#reloading = undefined;
      }
    })();
    return this.#reloading;
  }

  /**
   * Keeps a TLS server's certificate current: on rotation, `setSecureContext` with the new material,
   * passing the server's session ticket keys along so resumption survives the swap. Existing
   * connections keep their context; new handshakes get the new one; nothing restarts.
   */
  attachServer(server: HttpsServer | TlsServer, base: Record<string, unknown> = {}): this {
    this.on('rotated', (m) => {
      server.setSecureContext({ ...base, cert: m.cert, key: m.key, ca: m.ca, ticketKeys: server.getTicketKeys() });
    });
    return this;
  }

  close(): void {
    this.#watch?.close();
    this.#watch = undefined;
  }
}

function toTls(m: WorkloadMaterial): TlsMaterial {
  return { cert: m.certPem, key: m.keyPem, ca: m.caPem, serial: m.info.serial, redisPassword: m.redisPassword };
}
