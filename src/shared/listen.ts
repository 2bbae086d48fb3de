import { createServer, type AddressInfo, type Server } from 'node:net';
import type { ListenAddress } from './settings/schemas.js';

export type { ListenAddress } from './settings/schemas.js';

/** Listens and resolves with the bound port; rejects on EADDRINUSE and the like. */
export function listen(server: Server, at: ListenAddress): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(at.port, at.host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Closes a server, ending idle keep-alive connections so close does not wait on them. */
export function closeServer(server: Server & { closeIdleConnections?: () => void; closeAllConnections?: () => void }, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections?.(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections?.();
  });
}

/**
 * A port that was free on `host` a moment ago: the kernel picks one for a throwaway listener, which
 * is closed at once. Whoever is told to listen there can still lose a race for it, and then fails
 * with EADDRINUSE naming the port. For servers that cannot listen on port 0 themselves (redis-server,
 * Envoy) and for the stack's free-ports mode.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('the kernel gave no port'))));
    });
  });
}

