/**
 * How certificate rotation reaches Redis without a restart. Redis 7 reads its TLS files and its ACL
 * file only at start, so after the PKI changes, the rotator (signed in as its own ACL user,
 * `cert-rotator`, over mTLS, checking Redis's SPIFFE ID) tells the running Redis:
 *
 * 1. before a Redis user's new version becomes `current`: every user's rule with the hashes of its
 *    kept and staged passwords (`ACL SETUSER`), so no client can read a password Redis does not
 *    accept yet. If Redis cannot be told, those workloads keep their old version (and the run fails);
 * 2. after the swap: the rules again (now without the pruned passwords); then, when a new handshake
 *    shows a serial other than its `current` certificate's, `CONFIG SET tls-cert-file ...
 *    tls-key-file ... tls-ca-cert-file ...` with the `current/` paths, which makes Redis 7.0 load
 *    the files again (measured here: setting the same path reloads; a versioned path is not
 *    needed, and the PKI lock keeps `current` from moving between the reads). Redis keeps serving
 *    its old certificate when the new files do not load;
 * 3. the checks: a new TLS handshake must see the `current` serial (a file's mtime proves nothing),
 *    and each user's current password must authenticate (`AUTH`).
 *
 * Redis sees its certificate at the same path as the rotator (`<ZT_PKI_DIR>/redis/current/`): in
 * compose both mount it at /pki/redis.
 */
import { join } from 'node:path';
import { errorMessage } from '../shared/errors.js';
import { REDIS_SERVER_WORKLOAD, type PkiLayout } from '../shared/pki/pki-layout.js';
import { readWorkloadMaterial, type WorkloadMaterial } from '../shared/pki/workload-material.js';
import type { RedisServer } from '../shared/redis-client.js';
import { withRedisSession, type RedisSession } from '../shared/redis-session.js';
import type { Topology } from '../shared/topology.js';
import { ruleWords, type AclUser } from './redis-acl.js';

/** The workload whose certificate and ACL user the rotator presents to Redis. */
export const ROTATOR_WORKLOAD = 'cert-rotator';

/** What a run did to Redis, for the rotation summary. */
export interface RedisSyncResult {
  readonly action: 'synced' | 'failed';
  /** `reloaded`: CONFIG SET made Redis take its new certificate; `kept`: it already served it. */
  readonly tls?: 'reloaded' | 'kept';
  /** The serial a new handshake saw at the end. */
  readonly serial?: string;
  /** The users whose rules were applied and whose current password authenticated. */
  readonly users?: readonly string[];
  readonly error?: string;
}

/** Applies every user's rule as the rotator's user; rejects with the reason when Redis cannot be told. */
export async function pushAclUsers(layout: PkiLayout, server: RedisServer, users: readonly AclUser[]): Promise<void> {
  await asRotator(layout, server, (s) => applyUsers(s, users));
}

/**
 * Brings the running Redis in step with the PKI after a commit: rules, certificate, checks. Never
 * throws: a failure is the result's `error`, and Redis keeps what it served.
 */
export async function syncRedis(layout: PkiLayout, spec: Topology, server: RedisServer, users: readonly AclUser[]): Promise<RedisSyncResult> {
  try {
    const redis = await readWorkloadMaterial(layout, REDIS_SERVER_WORKLOAD);
    const want = redis.info.serial;
    const served = await asRotator(layout, server, async (s) => {
      await applyUsers(s, users);
      if (s.servedSerial === want) return s.servedSerial;
      const dir = layout.current(REDIS_SERVER_WORKLOAD);
      await s.client.config('SET', 'tls-cert-file', join(dir, 'cert.pem'), 'tls-key-file', join(dir, 'key.pem'), 'tls-ca-cert-file', join(dir, 'ca.pem'));
      return s.servedSerial;
    });
    // A new connection, so a new handshake: what a client connecting now is served.
    const checked = await asRotator(layout, server, async (s) => {
      if (s.servedSerial !== want) throw new Error(`Redis still serves serial ${s.servedSerial} after CONFIG SET, not ${want} from ${layout.current(REDIS_SERVER_WORKLOAD)}`);
      return checkPasswords(layout, spec, s, users);
    });
    return { action: 'synced', tls: served === want ? 'kept' : 'reloaded', serial: want, users: checked };
  } catch (err) {
    return { action: 'failed', error: `redis: ${errorMessage(err)}` };
  }
}

async function asRotator<T>(layout: PkiLayout, server: RedisServer, use: (s: RedisSession) => Promise<T>): Promise<T> {
  const me = await readWorkloadMaterial(layout, ROTATOR_WORKLOAD);
  return withRedisSession(server, tlsOf(me), { user: ROTATOR_WORKLOAD, password: passwordOf(me, ROTATOR_WORKLOAD) }, use);
}

async function applyUsers(s: RedisSession, users: readonly AclUser[]): Promise<void> {
  // The rotator's own rule last, so that a failure on another user leaves its own sign-in untouched.
  const ordered = [...users.filter((u) => u.user.workload !== ROTATOR_WORKLOAD), ...users.filter((u) => u.user.workload === ROTATOR_WORKLOAD)];
  for (const u of ordered) await s.client.call('ACL', 'SETUSER', u.user.workload, ...ruleWords(u));
}

/** Each user's current password signs in (AUTH on one connection, user after user). */
async function checkPasswords(layout: PkiLayout, spec: Topology, s: RedisSession, users: readonly AclUser[]): Promise<string[]> {
  const checked: string[] = [];
  for (const u of users) {
    if (!spec.workloads.has(u.user.workload)) continue;
    const m = await readWorkloadMaterial(layout, u.user.workload);
    try {
      await s.client.call('AUTH', u.user.workload, passwordOf(m, u.user.workload));
    } catch (err) {
      throw new Error(`the current password of ${u.user.workload} (${m.versionDir}) does not sign in: ${errorMessage(err)}`, { cause: err });
    }
    checked.push(u.user.workload);
  }
  return checked;
}

function tlsOf(m: WorkloadMaterial): { cert: string; key: string; ca: string } {
  return { cert: m.certPem, key: m.keyPem, ca: m.caPem };
}

function passwordOf(m: WorkloadMaterial, workload: string): string {
  if (m.redisPassword === undefined) throw new Error(`${workload} has no Redis password in ${m.versionDir}`);
  return m.redisPassword;
}
