/**
 * The ready banner of `npm start`: where everything listens, and curl commands that work as
 * printed (absolute paths to the PKI files, a fresh token minted inline), each with the status it
 * should answer.
 */
import { join } from 'node:path';
import type { StackPorts } from './stack-ports.js';

export interface BannerInput {
  readonly ports: StackPorts;
  readonly host: string;
  /** Absolute. */
  readonly pkiDir: string;
  /** Absolute path of the PKI declaration (the token's max TTL comes from it). */
  readonly pkiConfig: string;
  readonly repoRoot: string;
  readonly redis: string;
  readonly runtime: string;
  /** The pid of each child by name, shown so that an operator can find them. */
  readonly pids: Readonly<Record<string, number>>;
}

/** One demo call: what it shows, the status to expect, and the shell command. */
export interface DemoCommand {
  readonly title: string;
  readonly expect: number;
  readonly command: string;
}

/** The demo calls of the banner, for the banner and for the test that runs them. */
export function demoCommands(b: BannerInput): DemoCommand[] {
  const token = `$(npm --prefix ${sh(b.repoRoot)} run --silent token -- --dir ${sh(b.pkiDir)} --config ${sh(b.pkiConfig)})`;
  const alice = [
    `--cacert ${sh(join(b.pkiDir, 'ca', 'bundle.crt'))}`,
    `--cert ${sh(join(b.pkiDir, 'client-alice', 'current', 'cert.pem'))}`,
    `--key ${sh(join(b.pkiDir, 'client-alice', 'current', 'key.pem'))}`,
  ].join(' ');
  const curl = (port: number, ...rest: string[]): string =>
    [`curl -sS -w '\\n%{http_code}\\n' ${alice}`, `-H "authorization: Bearer ${token}"`, ...rest, `https://${b.host}:${port}/v1/tenants/acme/items/widget/ratings`].join(' \\\n  ');
  const write = `-H 'content-type: application/json' -d '{"score":5,"comment":"great"}'`;
  return [
    { title: 'alice rates an acme item through us-east (200 when she rates it again)', expect: 201, command: curl(b.ports.edgeUsEast, write) },
    { title: 'the aggregate read', expect: 200, command: curl(b.ports.edgeUsEast) },
    { title: 'alice through eu-central: denied, cross_region', expect: 403, command: curl(b.ports.edgeEuCentral, write) },
  ];
}

/** The whole banner text. */
export function banner(b: BannerInput): string {
  const p = b.ports;
  const pid = (name: string): string => (b.pids[name] === undefined ? '' : `  pid ${b.pids[name]}`);
  const rows: [string, string][] = [
    ['edge us-east', `https://${b.host}:${p.edgeUsEast}  (admin http://${b.host}:${p.edgeUsEastAdmin})${pid('edge-us-east')}`],
    ['edge eu-central', `https://${b.host}:${p.edgeEuCentral}  (admin http://${b.host}:${p.edgeEuCentralAdmin})${pid('edge-eu-central')}`],
    ['authz', `https://${b.host}:${p.authz}  (admin http://${b.host}:${p.authzAdmin}/metrics)${pid('authz')}`],
    ['rating API', `https://${b.host}:${p.rating}  (admin http://${b.host}:${p.ratingAdmin})${pid('rating')}`],
    ['storage', `${b.redis}${pid('redis')}`],
    ['PKI', b.pkiDir],
    ['services run', b.runtime],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = ['', '=== zero-trust stack ready ===', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), ''];
  for (const c of demoCommands(b)) lines.push(`# ${c.title}  # ${c.expect}`, c.command, '');
  lines.push('Ctrl-C stops everything.', '');
  return lines.join('\n');
}

/** Single-quotes a word for sh/bash. */
function sh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
