import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
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
 * Where {@link freePort} picks from: above the ports a host's services customarily take (the
 * topology's own are 6379-9902) and below the kernel's ephemeral range.
 */
const PICK_FLOOR = 20_000;

/** The kernel's ephemeral range on Linux, from which every outgoing connection draws its local port. */
const EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';

/** Ports this process has handed out, never handed out twice while they may be about to be listened on. */
const handedOut = new Set<number>();
const HANDED_OUT_MEMORY = 4096;

/**
 * A port that was free on `host` a moment ago, for servers that cannot listen on port 0 themselves
 * (redis-server, Envoy) and for the stack's free-ports mode. Whoever is told to listen there binds
 * it a moment later, so the pick is made where nothing else takes ports unasked: below the kernel's
 * ephemeral range, which every outgoing connection draws its local port from. A port the kernel
 * picks for a listener on port 0 comes from that range, and on a host making thousands of
 * connections one of them took such a port before its listener did (EADDRINUSE, CI 2026-12-02).
 * The port is chosen at random, checked free, and not handed out again by this process; another
 * process that picks ports the same way can still take it first. Where the range cannot be read
 * (not Linux) or leaves no room below it, the kernel picks.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const ceiling = await ephemeralFloor();
  if (ceiling !== undefined && ceiling - PICK_FLOOR >= 1024) {
    for (let attempt = 0; attempt < 64; attempt++) {
      const port = PICK_FLOOR + randomInt(ceiling - PICK_FLOOR);
      if (handedOut.has(port) || !(await canListen(port, host))) continue;
      if (handedOut.size >= HANDED_OUT_MEMORY) handedOut.clear();
      handedOut.add(port);
      return port;
    }
  }
  return kernelPort(host);
}

/** The first port of the kernel's ephemeral range, or undefined where it cannot be read. */
async function ephemeralFloor(): Promise<number | undefined> {
  try {
    const low = Number((await readFile(EPHEMERAL_RANGE_FILE, 'utf8')).trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a listener could bind `port` on `host` just now (it is closed at once). */
function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A port the kernel picks for a throwaway listener on port 0. */
function kernelPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('the kernel gave no port'))));
    });
  });
}
