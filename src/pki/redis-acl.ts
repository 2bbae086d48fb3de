/**
 * Redis's users: one ACL user per workload that talks to Redis, each with the least it needs, and
 * the ACL file redis-server loads (`aclfile`), generated from the PKI and never committed.
 *
 * Every rule below was established against redis-server 7.0.15 (what runs here and what compose
 * pins), not read from documentation:
 * - ioredis (6.x) connects with `HELLO 3 AUTH <user> <password>` (no ACL permission needed), then
 *   `CLIENT SETNAME` when a connection name is set. The client turns off its `INFO` ready check and
 *   `CLIENT SETINFO` (src/shared/redis-client.ts), so neither needs a grant; it never sends SELECT
 *   (REDIS_URL carries no database).
 * - ioredis runs a script with EVALSHA and falls back to EVAL on NOSCRIPT, so both are granted.
 *   Redis 7 checks every command a script calls, and every key it touches, against the caller's
 *   user: the grants name exactly the commands of the scripts (charge-script.ts, rating-scripts.ts).
 * - Redis 7.0 cannot tell a script's commands from the same commands sent directly, nor one
 *   script from another: authz may therefore run TIME, HMGET, HSET, DEL and PEXPIRE on
 *   `zt:bucket:*` keys, in a script or not, and nothing else on any other key.
 * - `ACL LOAD` disconnects every client authenticated as a user other than `default`, even when the
 *   file did not change, so the rotator never uses it: it applies each user's full rule with
 *   `ACL SETUSER <user> reset on #<hash>...` (which leaves open connections alone), and writes the
 *   same rules to this file for the next start of Redis.
 * - `CONFIG SET` cannot be limited to some parameters by an ACL. What keeps the rotator's user away
 *   from `dir`, `dbfilename` and the like is Redis 7's `enable-protected-configs no` default.
 * - The ACL file format has no comments, so the file carries no "generated" header.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readRedisPassword } from '../shared/pki/workload-material.js';
import { REDIS_SERVER_WORKLOAD, type PkiLayout } from '../shared/pki/pki-layout.js';
import type { Topology } from '../shared/topology.js';
import { PRIVATE_MODE, inheritedOwner, writeFileAtomic } from './atomic-fs.js';

/** One Redis user: a workload, what it uses Redis for, and its rule (without `reset on` and passwords). */
export interface RedisUser {
  readonly workload: string;
  readonly purpose: string;
  readonly rules: readonly string[];
}

/** The users, by workload name; a workload not listed here has no Redis password and no access. */
export const REDIS_USERS: readonly RedisUser[] = [
  {
    workload: 'authz',
    purpose: 'token buckets: the charge script (src/authz/buckets/charge-script.ts) on zt:bucket:* keys',
    rules: ['~zt:bucket:*', 'resetchannels', '-@all', '+evalsha', '+eval', '+time', '+hmget', '+hset', '+del', '+pexpire', '+client|setname'],
  },
  {
    workload: 'rating-api',
    purpose: 'ratings: the put/remove scripts (src/rating/rating-scripts.ts) and HMGET on zt:rating:* keys; rating events published on zt:rating-events:*',
    rules: ['~zt:rating:*', 'resetchannels', '&zt:rating-events:*', '-@all', '+evalsha', '+eval', '+hget', '+hmget', '+hset', '+hdel', '+hincrby', '+client|setname', '+publish', '+subscribe', '+unsubscribe', '+ping'],
  },
  {
    workload: 'cert-rotator',
    purpose: 'keeps Redis in step with the PKI: the users (ACL SETUSER) and its certificate (CONFIG SET tls-*)',
    rules: ['resetkeys', 'resetchannels', '-@all', '+acl|setuser', '+config|set'],
  },
  {
    workload: 'redis',
    purpose: "health checks (compose's, npm start's readiness): PING only",
    rules: ['resetkeys', 'resetchannels', '-@all', '+ping'],
  },
];

/** Whether `workload` is a Redis user, and so gets a password at every issue. */
export function isRedisUser(workload: string): boolean {
  return REDIS_USERS.some((u) => u.workload === workload);
}

/** A fresh password: 256 random bits, base64url (no character Redis or a shell would trip on). */
export function newRedisPassword(): string {
  return randomBytes(32).toString('base64url');
}

/** What Redis stores of a password, and what the ACL file holds: SHA-256, lower-case hex. */
export function passwordHash(password: string): string {
  return createHash('sha256').update(password).digest('hex');
}

/** A user with the hashes of every password it may sign in with (one per kept version). */
export interface AclUser {
  readonly user: RedisUser;
  readonly hashes: readonly string[];
}

/**
 * The words of a user's rule after its name, as the ACL file and `ACL SETUSER` take them: `reset`
 * first, so that applying it leaves nothing of an earlier rule behind; `off` when it has no password.
 */
export function ruleWords(u: AclUser): string[] {
  return ['reset', u.hashes.length === 0 ? 'off' : 'on', ...u.hashes.map((h) => `#${h}`), ...u.user.rules];
}

/** The ACL file: the `default` user reset and off, then one line per user. */
export function renderAclFile(users: readonly AclUser[]): string {
  return ['user default reset off', ...users.map((u) => `user ${u.user.workload} ${ruleWords(u).join(' ')}`), ''].join('\n');
}

/**
 * Every Redis user of the topology with the hashes of the password of each of its version
 * directories on disk: the current one, the older ones still kept (a client that has not picked up
 * its new password yet still signs in), and one staged but not yet current (Redis must accept a
 * password before any client can read it).
 */
export async function aclUsers(layout: PkiLayout, spec: Topology): Promise<AclUser[]> {
  const out: AclUser[] = [];
  for (const user of REDIS_USERS) {
    if (!spec.workloads.has(user.workload)) continue;
    const dir = layout.workloadDir(user.workload);
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    const versions = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
    const hashes: string[] = [];
    for (const v of versions) {
      const password = await readRedisPassword(join(dir, v));
      if (password !== undefined) hashes.push(passwordHash(password));
    }
    out.push({ user, hashes });
  }
  return out;
}

/**
 * Writes the ACL file from what is on disk, atomically, mode 0600, owned like Redis's directory (so
 * that a redis-server running as its own user reads it). Returns the users written.
 */
export async function writeRedisAcl(layout: PkiLayout, spec: Topology): Promise<AclUser[]> {
  const users = await aclUsers(layout, spec);
  if (!spec.workloads.has(REDIS_SERVER_WORKLOAD)) return users;
  const owner = await inheritedOwner(layout.workloadDir(REDIS_SERVER_WORKLOAD));
  await writeFileAtomic(layout.redisAcl, renderAclFile(users), PRIVATE_MODE, owner);
  return users;
}
