/**
 * `watch`: a command-line client of the rating stream. It opens
 * `wss://<edge>/v1/tenants/<tenant>/items/<item>/ratings/stream` with a client certificate (a
 * workload of the PKI, or PEM files) and a bearer token, prints every server message as one JSON
 * line on stdout, and says on stderr what happened: the refusal's status and body, or the close
 * code and reason. It can publish a rating once the snapshot is in (`--rate`).
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../shared/errors.js';
import { WebSocket, type ClientOptions } from 'ws';
import { STREAM_SUBPROTOCOL } from '../shared/http/bearer-token.js';
import { readWorkloadMaterial } from '../shared/pki/workload-material.js';
import { edgeOf, portsOf } from '../shared/topology.js';
import { serverMessageSchema } from '../rating/stream/stream-messages.js';
import { EXIT_FAILURE, pkiContext, withPkiOptions, type PkiOptions } from './run.js';

interface WatchOptions extends PkiOptions {
  tenant: string;
  item: string;
  region: string;
  edge?: string;
  servername: string;
  client: string;
  cert?: string;
  key?: string;
  ca?: string;
  token?: string;
  subprotocol?: boolean;
  rate?: number;
  comment?: string;
  count?: number;
}

/** Close codes that end a watch normally (exit 0). */
const NORMAL_CLOSES = new Set([1000, 1001]);

function score(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 5) throw new InvalidArgumentError(`--rate must be a whole number from 1 to 5, got "${text}"`);
  return n;
}

function count(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--count must be a whole number of at least 1, got "${text}"`);
  return n;
}

export function watchProgram(): Command {
  const program = new Command('watch')
    .description(
      'Watch an item\'s ratings live: open the rating stream through an edge with a client certificate and a bearer token, print each server message as a JSON line (stdout), and the close code or the refusal (stderr). Exit 0 on a normal close or after --count updates, 1 otherwise.',
    )
    .option('--tenant <tenant>', 'tenant of the item', 'acme')
    .option('--item <item>', 'item to watch', 'widget')
    .option('--region <region>', 'the edge to go through, by region (its port from the topology, on 127.0.0.1)', 'us-east')
    .option('--edge <host:port>', 'the edge to go through, by address (overrides --region)')
    .option('--servername <name>', 'TLS server name to send and check (certificates carry DNS names only)', 'localhost')
    .option('--client <workload>', 'present this PKI workload\'s certificate', 'client-alice')
    .option('--cert <file>', 'client certificate PEM (with --key and --ca, instead of --client)')
    .option('--key <file>', 'client private key PEM')
    .option('--ca <file>', 'CA bundle PEM that the edge\'s certificate must chain to')
    .option('--token <jwt>', 'bearer token (default: the ZT_TOKEN environment variable; mint one with npm run token)')
    .option('--subprotocol', `send the token as a browser does: subprotocols ${STREAM_SUBPROTOCOL} and bearer.<token>, instead of Authorization`)
    .option('--rate <score>', 'once the snapshot is in, publish this score (1-5) over the stream (needs the rater role)', score)
    .option('--comment <text>', 'comment of the --rate rating')
    .option('--count <n>', 'exit 0 after this many update messages', count);
  withPkiOptions(program).action(async (opts: WatchOptions) => {
    const token = opts.token ?? process.env.ZT_TOKEN;
    if (token === undefined || token.trim() === '') throw new ConfigError('cli_usage', 'no token: pass --token <jwt> or set ZT_TOKEN (e.g. ZT_TOKEN=$(npm run -s token -- --roles viewer))');
    const { host, port } = edgeAddress(opts);
    const tls = await clientTls(opts);
    const path = `/v1/tenants/${encodeURIComponent(opts.tenant)}/items/${encodeURIComponent(opts.item)}/ratings/stream`;
    const url = `wss://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
    const options: ClientOptions & { servername: string } = {
      ...tls,
      servername: opts.servername,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      headers: opts.subprotocol === true ? {} : { authorization: `Bearer ${token.trim()}` },
    };
    process.stderr.write(`watch: ${url} as ${opts.cert ?? opts.client}\n`);
    const ws = new WebSocket(url, opts.subprotocol === true ? [STREAM_SUBPROTOCOL, `bearer.${token.trim()}`] : [], options);
    process.exitCode = await run(ws, opts);
  });
  return program;
}

/** Resolves with the exit code once the stream is over. */
function run(ws: WebSocket, opts: WatchOptions): Promise<number> {
  return new Promise((resolve) => {
    let updates = 0;
    let rated = false;
    ws.once('open', () => process.stderr.write(`watch: open${ws.protocol === '' ? '' : `, subprotocol ${ws.protocol}`}\n`));
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        process.stderr.write(`watch: refused: ${res.statusCode ?? 0} ${body}\n`);
        ws.terminate();
        resolve(EXIT_FAILURE);
      });
    });
    ws.once('error', (err) => {
      process.stderr.write(`watch: ${err.message}\n`);
      resolve(EXIT_FAILURE);
    });
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      process.stdout.write(`${text}\n`);
      const parsed = serverMessageSchema.safeParse(JSON.parse(text));
      if (!parsed.success) {
        process.stderr.write(`watch: a message outside ${STREAM_SUBPROTOCOL}: ${parsed.error.issues[0]?.message ?? ''}\n`);
        return;
      }
      const message = parsed.data;
      if (message.type === 'snapshot' && opts.rate !== undefined && !rated) {
        rated = true;
        ws.send(JSON.stringify({ type: 'rate', id: 'watch-1', score: opts.rate, ...(opts.comment === undefined ? {} : { comment: opts.comment }) }));
      }
      if (message.type === 'update' && opts.count !== undefined && ++updates >= opts.count) ws.close(1000);
    });
    ws.once('close', (code, reason) => {
      process.stderr.write(`watch: closed ${code}${reason.length > 0 ? ` ${reason.toString('utf8')}` : ''}\n`);
      resolve(NORMAL_CLOSES.has(code) ? 0 : EXIT_FAILURE);
    });
    const stop = (): void => ws.close(1000);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** `--edge host:port`, else the region's edge port from the topology, on loopback. */
function edgeAddress(opts: WatchOptions): { host: string; port: number } {
  if (opts.edge !== undefined) {
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(opts.edge);
    if (!m) throw new ConfigError('cli_usage', `--edge must be host:port, got "${opts.edge}"`);
    return { host: m[1] ?? m[2] ?? '', port: Number(m[3]) };
  }
  const { spec, settings } = pkiContext(opts);
  return { host: '127.0.0.1', port: portsOf(edgeOf(spec, opts.region), settings.pkiConfig).listen };
}

/** The PEM files given, all three, or the client workload's current material. */
async function clientTls(opts: WatchOptions): Promise<{ cert: string; key: string; ca: string }> {
  const files = [opts.cert, opts.key, opts.ca];
  if (files.some((f) => f !== undefined)) {
    if (files.some((f) => f === undefined)) throw new ConfigError('cli_usage', '--cert, --key and --ca go together');
    const [cert, key, ca] = await Promise.all(files.map((f) => readFile(f ?? '', 'utf8')));
    return { cert: cert ?? '', key: key ?? '', ca: ca ?? '' };
  }
  const m = await readWorkloadMaterial(pkiContext(opts).layout, opts.client);
  return { cert: m.certPem, key: m.keyPem, ca: m.caPem };
}
