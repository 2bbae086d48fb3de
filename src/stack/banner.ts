/**
 * The ready banner of `npm start`: where everything listens, which edges run (dev edges or the real
 * Envoy), and curl commands that work as printed against either (absolute paths to the PKI files, a
 * fresh token minted inline), each with the status it should answer.
 */
import { join } from 'node:path';
import type { StackPorts } from './stack-ports.js';

/** What the demo calls need: the edges' ports, the demo client's home region and the files it presents. */
export interface DemoInput {
  readonly ports: StackPorts;
  /** alice's region (her certificate's), where her writes are allowed; any other edge is cross-region. */
  readonly homeRegion: string;
  /** Absolute. */
  readonly pkiDir: string;
  /** Absolute path of the PKI declaration (the token's max TTL comes from it). */
  readonly pkiConfig: string;
  readonly repoRoot: string;
}

export interface BannerInput extends DemoInput {
  readonly host: string;
  /** Which edges run: the dev edge, or Envoy with its version and binary. */
  readonly edge: string;
  readonly redis: string;
  /** Who each child runs as, and so which keys it can read. */
  readonly isolation: string;
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
export function demoCommands(b: DemoInput): DemoCommand[] {
  const mint = `npm --prefix ${sh(b.repoRoot)} run --silent token -- --dir ${sh(b.pkiDir)} --config ${sh(b.pkiConfig)}`;
  // acme requires tokens bound to the client certificate that presents them (policies/data.json):
  // minted for alice's current certificate, as curl presents it.
  const token = `$(${mint} --bind client-alice)`;
  const alice = [
    `--cacert ${sh(join(b.pkiDir, 'ca', 'bundle.crt'))}`,
    `--cert ${sh(join(b.pkiDir, 'client-alice', 'current', 'cert.pem'))}`,
    `--key ${sh(join(b.pkiDir, 'client-alice', 'current', 'key.pem'))}`,
  ].join(' ');
  const curlWith = (bearer: string, port: number, ...rest: string[]): string =>
    // `localhost`, not the address: leaves carry DNS SANs only (README, "The PKI").
    [`curl -sS -w '\\n%{http_code}\\n' ${alice}`, `-H "authorization: Bearer ${bearer}"`, ...rest, `https://localhost:${port}/v1/tenants/acme/items/widget/ratings`].join(' \\\n  ');
  const curl = (port: number, ...rest: string[]): string => curlWith(token, port, ...rest);
  const write = `-H 'content-type: application/json' -d '{"score":5,"comment":"great"}'`;
  const home = b.ports.edges[b.homeRegion];
  const [foreignRegion, foreign] = Object.entries(b.ports.edges).find(([region]) => region !== b.homeRegion) ?? [];
  if (home === undefined || foreign === undefined) throw new Error(`the demo needs an edge in ${b.homeRegion} and one elsewhere`);
  return [
    { title: `alice rates an acme item through ${b.homeRegion} (200 when she rates it again)`, expect: 201, command: curl(home.listen, write) },
    { title: 'the aggregate read', expect: 200, command: curl(home.listen) },
    { title: `alice through ${foreignRegion ?? ''}: denied, cross_region`, expect: 403, command: curl(foreign.listen, write) },
    { title: 'a token not bound to her certificate: invalid_token (acme requires bound tokens)', expect: 401, command: curlWith(`$(${mint})`, home.listen) },
  ];
}

/** The whole banner text. */
export function banner(b: BannerInput): string {
  const p = b.ports;
  const pid = (name: string): string => (b.pids[name] === undefined ? '' : `  pid ${b.pids[name]}`);
  const rows: [string, string][] = [
    ['edges', b.edge],
    ...Object.entries(p.edges).map(([region, e]): [string, string] => [`edge ${region}`, `https://localhost:${e.listen}  (admin http://${b.host}:${e.admin})${pid(`edge-${region}`)}`]),
    ['authz', `https://localhost:${p.authz.listen}  (admin http://${b.host}:${p.authz.admin}/metrics)${pid('authz')}`],
    ['rating API', `https://localhost:${p.rating.listen}  (admin http://${b.host}:${p.rating.admin})${pid('rating')}`],
    ['storage', `${b.redis}${pid('redis')}`],
    ['PKI', b.pkiDir],
    ['keys', b.isolation],
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
