import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { freePort, listen } from '../../../src/shared/listen.js';

/** The first port of the kernel's ephemeral range: where outgoing connections take their local ports. */
async function ephemeralFloor(): Promise<number> {
  return Number((await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/)[0]);
}

describe('freePort', () => {
  it("picks below the kernel's ephemeral range, where no outgoing connection takes a port before its listener does", async () => {
    const floor = await ephemeralFloor();
    const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
    for (const port of ports) assert.ok(port >= 1024 && port < floor, `port ${port}, the ephemeral range starts at ${floor}`);
  });

  it('hands no port out twice, and each can be listened on', async () => {
    const ports = await Promise.all(Array.from({ length: 200 }, () => freePort()));
    assert.equal(new Set(ports).size, ports.length);
    const servers: Server[] = [];
    try {
      for (const port of ports.slice(0, 20)) {
        const server = createServer();
        servers.push(server);
        assert.equal(await listen(server, { host: '127.0.0.1', port }), port);
      }
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  });

});
