/**
 * The real `openssl s_client` against a listener, for the TLS checks a Node client cannot make
 * (Node's client refuses the weak suites itself, and cannot start a renegotiation the way an
 * attacker's client does): which cipher a TLS 1.2 handshake ends with, and what happens to a
 * client-initiated renegotiation.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where to connect, and the client's material as files (s_client takes paths). */
export interface SClientTarget {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
}

export interface SClientFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** Writes PEM material to `dir` as the files s_client reads. */
export async function sClientFiles(dir: string, name: string, tls: { cert: string; key: string; ca: string }): Promise<SClientFiles> {
  const files = { cert: join(dir, `${name}.cert.pem`), key: join(dir, `${name}.key.pem`), ca: join(dir, `${name}.ca.pem`) };
  await Promise.all([writeFile(files.cert, tls.cert), writeFile(files.key, tls.key, { mode: 0o600 }), writeFile(files.ca, tls.ca)]);
  return files;
}

function baseArgs(at: SClientTarget, files: SClientFiles): string[] {
  // -cert_chain sends the intermediate too: the cert file holds the leaf and the intermediate.
  return ['s_client', '-connect', `${at.host}:${at.port}`, '-servername', at.servername, '-cert', files.cert, '-cert_chain', files.cert, '-key', files.key, '-CAfile', files.ca];
}

/** Runs s_client with `stdin` lines sent one by one `gapMs` apart; resolves with its output once it exits (or is stopped after `limitMs`). */
function run(args: string[], stdin: readonly string[], gapMs: number, limitMs: number): Promise<{ output: string; exited: boolean }> {
  return new Promise((resolve) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let exited = false;
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.stdin.on('error', () => undefined);
    stdin.forEach((line, i) => setTimeout(() => child.stdin.writable && child.stdin.write(line), gapMs * (i + 1)));
    const limit = setTimeout(() => child.kill(), limitMs);
    child.on('exit', (code) => {
      exited = code !== null;
      clearTimeout(limit);
      resolve({ output, exited });
    });
    if (stdin.length === 0) child.stdin.end();
  });
}

/**
 * The cipher a TLS 1.2 handshake offering only `cipher` ends with: the suite's name, or `(NONE)`
 * when the listener refused to negotiate it.
 */
export async function negotiatedTls12Cipher(at: SClientTarget, files: SClientFiles, cipher: string): Promise<string> {
  const { output } = await run([...baseArgs(at, files), '-tls1_2', '-cipher', cipher], [], 0, 15_000);
  const m = /Cipher is (\S+)/.exec(output);
  if (m?.[1] === undefined) throw new Error(`s_client printed no cipher line:\n${output}`);
  return m[1];
}

/** What a client-initiated TLS 1.2 renegotiation came to. */
export interface RenegotiationOutcome {
  /** s_client completed its first handshake. */
  readonly handshook: boolean;
  /** It asked to renegotiate (`R`). */
  readonly attempted: boolean;
  /** A second handshake completed (s_client verifies the chain again). */
  readonly renegotiated: boolean;
  /** An HTTP answer came to a request sent after the attempt: the connection was still usable. */
  readonly answeredAfter: boolean;
  readonly output: string;
}

/**
 * Completes a TLS 1.2 handshake, asks for a renegotiation once (`R`), then sends an HTTP request on
 * the same connection.
 */
export async function renegotiateOnce(at: SClientTarget, files: SClientFiles): Promise<RenegotiationOutcome> {
  const { output } = await run([...baseArgs(at, files), '-tls1_2'], ['R\n', `GET / HTTP/1.1\r\nhost: ${at.servername}\r\n\r\n`], 1500, 8000);
  const [before = '', after = ''] = output.split('RENEGOTIATING');
  return {
    handshook: /Verify return code: 0 \(ok\)/.test(before),
    attempted: output.includes('RENEGOTIATING'),
    renegotiated: /verify return:1/.test(after),
    answeredAfter: /HTTP\/1\.1 \d{3}/.test(after),
    output,
  };
}
