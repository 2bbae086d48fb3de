import { readdirSync } from 'node:fs';
/**
 * The servers `bench/authz.ts` compares the policy service with: an Express hello-world behind the
 * very same mTLS listener settings (the framework's ceiling), and the real OPA server evaluating the
 * same Rego and data over its REST API (mTLS too, so that transport costs the same).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpsRequest, createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSecureServer } from 'node:http2';
import express from 'express';
import { expressOverHttp2 } from '../src/shared/http/express-http2.js';
import { closeServer, freePort, listen } from '../src/shared/listen.js';

/** TLS material of one workload. */
export interface Tls {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/**
 * An Express app answering 200 "hello" to everything, with authz's listener options: HTTP/1.1 only,
 * or h2 and HTTP/1.1 on one port as the policy service's listener is (express-http2.ts).
 */
export async function startHelloWorld(tls: Tls, protocol: 'http/1.1' | 'h2' = 'http/1.1'): Promise<{ port: number; close(): Promise<void> }> {
  const build = (): express.Express => {
    const app = express();
    app.disable('x-powered-by');
    app.disable('etag');
    app.use((_req, res) => {
      res.send('hello');
    });
    return app;
  };
  const options = { ...tls, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' as const };
  const server = protocol === 'h2' ? createSecureServer({ ...options, allowHTTP1: true }, expressOverHttp2(build)) : createServer(options, build());
  if (protocol === 'h2') server.setTimeout(65_000);
  else (server as Server).keepAliveTimeout = 65_000;
  const port = await listen(server, { host: '127.0.0.1', port: 0 });
  return { port, close: () => closeServer(server) };
}

/**
 * `opa run --server` on loopback with the project's Rego (tests left out) and the bench data, TLS
 * with the authz certificate and client certificates required. Resolves once `/health` answers.
 */
export async function startOpa(
  repoRoot: string,
  files: { certFile: string; keyFile: string; caFile: string; dataPath: string },
  client: Tls,
): Promise<{ port: number; child: ChildProcess; close(): Promise<void> }> {
  const port = await freePort();
  // Every policy file, whatever the package grows to; the tests are not the policy.
  const rego = readdirSync(join(repoRoot, 'policies'))
    .filter((f) => f.endsWith('.rego') && !f.endsWith('_test.rego'))
    .map((f) => join(repoRoot, 'policies', f));
  const child = spawn(
    'bash',
    [
      join(repoRoot, 'scripts', 'opa.sh'),
      'run',
      '--server',
      '--addr',
      `127.0.0.1:${port}`,
      '--log-level',
      'error',
      '--tls-cert-file',
      files.certFile,
      '--tls-private-key-file',
      files.keyFile,
      '--tls-ca-cert-file',
      files.caFile,
      '--authentication',
      'tls',
      ...rego,
      files.dataPath,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`opa exited: ${stderr}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/health', agent: false, servername: 'authz', ...client }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`opa did not become healthy: ${stderr}`);
    await sleep(100);
  }
  return {
    port,
    child,
    close: async () => {
      if (child.exitCode !== null || child.pid === undefined) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
