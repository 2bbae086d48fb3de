import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PolicyData } from '../../../src/authz/policy/policy-data.js';
import { dataPath } from '../../helpers/given-policy.js';

/** A policy data file of a test's own, derived from policies/data.json. */
export interface TestData {
  readonly path: string;
  cleanup(): Promise<void>;
}

/** Writes the demo data changed by `change` to a temp file, for POLICY_DATA. */
export async function givenData(change: (data: PolicyData) => void): Promise<TestData> {
  const dir = await mkdtemp(join(tmpdir(), 'zt-authz-data-'));
  const data = JSON.parse(await readFile(dataPath, 'utf8')) as PolicyData;
  change(data);
  const path = join(dir, 'data.json');
  await writeFile(path, JSON.stringify(data, null, 2));
  return { path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
