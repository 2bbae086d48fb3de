import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One host of a test network: a network namespace with an address on the test bridge. */
export interface TestHost {
  readonly name: string;
  /** The `ip netns` name. */
  readonly netns: string;
  /** Its address, reachable from the test process. */
  readonly ip: string;
}

/**
 * A private network for one suite, as compose gives each container its own: a bridge in the test's
 * own namespace holding `bridgeIp` (where services the test starts listen), and one network
 * namespace per host, each with a veth on the bridge. Everything is named after a random id and
 * removed by `close()` (and, should the test process die first, at its exit).
 */
export interface TestNetwork {
  /** The address of the bridge: services in the test's own namespace listen here. */
  readonly bridgeIp: string;
  host(name: string): TestHost;
  close(): Promise<void>;
}

/** Why the network tests cannot run here, or undefined when they can (root and `ip` are needed). */
export function networkUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the ip command (iproute2) is missing';
  }
  return undefined;
}

/** Creates a bridge and a namespace per name; the hosts get .2, .3, ... on a free 10.x.y.0/24. */
export async function createTestNetwork(names: readonly string[]): Promise<TestNetwork> {
  const unavailable = networkUnavailable();
  if (unavailable !== undefined) throw new Error(`cannot build a test network: ${unavailable}`);
  const id = randomBytes(3).toString('hex');
  const prefix = await freeSubnet();
  const bridge = `zt${id}br`;
  const hosts = new Map<string, TestHost>();
  const created: { netns: string[]; bridge: boolean } = { netns: [], bridge: false };
  const cleanupSync = (): void => {
    for (const ns of created.netns) tryRun(() => execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }));
    if (created.bridge) tryRun(() => execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' }));
  };
  process.once('exit', cleanupSync);
  try {
    await ip('link', 'add', bridge, 'type', 'bridge');
    created.bridge = true;
    await ip('addr', 'add', `${prefix}.1/24`, 'dev', bridge);
    await ip('link', 'set', bridge, 'up');
    for (const [i, name] of names.entries()) {
      const netns = `zt-${id}-${name}`;
      const outer = `zt${id}${i}h`;
      const inner = `zt${id}${i}n`;
      await ip('netns', 'add', netns);
      created.netns.push(netns);
      await ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
      await ip('link', 'set', inner, 'netns', netns);
      await ip('link', 'set', outer, 'master', bridge, 'up');
      const address = `${prefix}.${i + 2}`;
      await ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', inner);
      await ip('-n', netns, 'link', 'set', inner, 'up');
      await ip('-n', netns, 'link', 'set', 'lo', 'up');
      hosts.set(name, Object.freeze({ name, netns, ip: address }));
    }
  } catch (err) {
    cleanupSync();
    process.off('exit', cleanupSync);
    throw err;
  }
  let closed = false;
  return {
    bridgeIp: `${prefix}.1`,
    host(name) {
      const h = hosts.get(name);
      if (h === undefined) throw new Error(`no host ${name} in this test network`);
      return h;
    },
    async close() {
      if (closed) return;
      closed = true;
      process.off('exit', cleanupSync);
      for (const ns of created.netns) await ip('netns', 'del', ns).catch(() => undefined);
      await ip('link', 'del', bridge).catch(() => undefined);
    },
  };
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    throw new Error(`ip ${args.join(' ')}: ${(err as { stderr?: string }).stderr?.trim() || String(err)}`, { cause: err });
  }
}

/** A 10.x.y prefix no interface of this machine uses. */
async function freeSubnet(): Promise<string> {
  const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show']);
  for (let attempt = 0; attempt < 50; attempt++) {
    const prefix = `10.${randomInt(200, 250)}.${randomInt(0, 256)}`;
    if (!stdout.includes(` ${prefix}.`)) return prefix;
  }
  throw new Error('no free 10.x.y.0/24 for a test network');
}

function tryRun(f: () => void): void {
  try {
    f();
  } catch {
    // already gone
  }
}
