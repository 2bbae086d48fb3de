import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ConfigError } from './errors.js';

/** A listen address from a setting such as `127.0.0.1:9443` or `[::1]:0`. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port` (port 0 picks a free port), naming the setting on error. */
export function parseListen(setting: string, value: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new ConfigError('bad_setting', `${setting}: "${value}" is not host:port (e.g. 127.0.0.1:9443)`);
  }
  return { host: m[1] ?? m[2] ?? '', port };
}

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
