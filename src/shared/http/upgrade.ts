/**
 * HTTP/1.1 upgrade requests (WebSocket handshakes) through an app's ordinary request pipeline.
 * Node hands an upgrade request to the server's `upgrade` event with the raw socket instead of to
 * the request handler, so every check a handler does (peer identity, ext_authz, the caller's
 * identity and roles) would need a second copy. Instead, each upgrade request gets a
 * ServerResponse bound to its socket and goes to the same handler: a refusal (401, 403, 429...) is
 * written by the same error exit as any other answer, then the connection is closed. A handler
 * that accepts the upgrade takes the socket over with {@link takeUpgrade} and speaks the new
 * protocol on it (writes the 101, proxies or serves the frames).
 */
import type { Server } from 'node:https';
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** An upgrade request's connection: the raw socket and the bytes read past the request's head. */
export interface Upgrade {
  readonly socket: Duplex;
  readonly head: Buffer;
}

interface Pending extends Upgrade {
  taken: boolean;
}

const upgrades = new WeakMap<IncomingMessage, Pending>();

/** The upgrade of a request that asked for one (and still may be taken over), else undefined. */
export function upgradeOf(req: IncomingMessage): Upgrade | undefined {
  const up = upgrades.get(req);
  return up === undefined || up.taken ? undefined : up;
}

/**
 * Takes an upgrade request's socket over: the end of its response no longer closes the
 * connection, and the caller owns the socket from here (it may still write the 101's head through
 * the response, or detach the socket from it). Throws when the request asked for no upgrade or was
 * already taken.
 */
export function takeUpgrade(req: IncomingMessage): Upgrade {
  const up = upgrades.get(req);
  if (up === undefined || up.taken) throw new Error('not an upgrade request, or one already taken over');
  up.taken = true;
  return up;
}

/**
 * Sends `server`'s upgrade requests through `handler`, as described at the top of this file. An
 * answer that is not taken over ends with `Connection: close`, and the socket is closed once it is
 * written. A socket error (a client resetting mid-handshake) destroys the socket; whoever took it
 * over adds its own handling.
 */
export function serveUpgrades(server: Server, handler: (req: IncomingMessage, res: ServerResponse) => void): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const up: Pending = { socket, head, taken: false };
    upgrades.set(req, up);
    socket.on('error', () => socket.destroy());
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as never);
    res.once('finish', () => {
      if (!up.taken) socket.end();
    });
    handler(req, res);
  });
}
