/**
 * Whether policies/build/policy.wasm is the policy on disk. It is a build output (never committed),
 * compiled from every policies/*.rego that is not a test; `npm start` and the tests rebuild it when
 * any of those is newer, so an edited policy always takes effect.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Why `wasm` must be rebuilt from the Rego under `policiesDir`, or undefined when it is fresh. */
export async function policyStaleness(policiesDir: string, wasm: string): Promise<string | undefined> {
  const built = await stat(wasm).then(
    (s) => s.mtimeMs,
    () => undefined,
  );
  if (built === undefined) return `${wasm} is missing`;
  for (const source of await regoSources(policiesDir)) {
    if ((await stat(source)).mtimeMs > built) return `${source} is newer than ${wasm}`;
  }
  return undefined;
}

/** The policy's .rego files: tests and the build output left out, as the build leaves them out. */
async function regoSources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'build') out.push(...(await regoSources(path)));
    else if (entry.isFile() && entry.name.endsWith('.rego') && !entry.name.endsWith('_test.rego')) out.push(path);
  }
  return out;
}
