import type { StackChild } from './child.js';

/** How often readiness is asked for while a service starts. */
const POLL_MS = 100;

/**
 * Resolves when `probe` succeeds; rejects when `deadline` (epoch ms) passes or the child exits
 * first, with the child's last output in the message.
 */
export async function waitUntilReady(child: StackChild, what: string, probe: () => Promise<boolean>, deadline: number): Promise<void> {
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited || !child.running) throw new Error(`${child.name} exited before it was ready (${what}); its last output:\n${child.tail()}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${child.name} was not ready (${what}) before the deadline; its last output:\n${child.tail()}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * A probe: `GET url` answers 200 (and, when `body` is given, that body once trimmed: Envoy's admin
 * `/ready` answers 200 `LIVE` only after its listeners, clusters and secrets are up).
 */
export function httpReady(url: string, body?: string): () => Promise<boolean> {
  return async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    const text = await res.text();
    return res.status === 200 && (body === undefined || text.trim() === body);
  };
}
