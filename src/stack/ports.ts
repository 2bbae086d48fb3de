import { createServer } from 'node:net';

/**
 * A port that was free on `host` a moment ago: the kernel picks one for a throwaway listener, which
 * is closed at once. A child told to listen there can still lose a race for it; the stack then fails
 * with that child's EADDRINUSE, which names the port.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('the kernel gave no port'))));
    });
  });
}
