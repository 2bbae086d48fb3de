/**
 * A separate process that reads one workload's `current` material in a tight loop, the way a
 * service does (resolve `current` once, read cert and key from that version, check they match),
 * until the file named by argv[4] appears. Prints a JSON report of what it saw.
 */
import { existsSync } from 'node:fs';
import { ConfigError } from '../../src/shared/errors.js';
import { readWorkloadMaterial } from '../../src/shared/pki/workload-material.js';
import { PkiLayout } from '../../src/shared/pki/pki-layout.js';

const [, , dir = '', workload = '', stopFile = ''] = process.argv;
const layout = new PkiLayout(dir);
const report = { reads: 0, mismatched: 0, missing: 0, other: 0, serials: new Set<string>(), errors: [] as string[] };
while (!existsSync(stopFile)) {
  try {
    const m = await readWorkloadMaterial(layout, workload);
    report.reads++;
    report.serials.add(m.info.serial);
  } catch (err) {
    const code = err instanceof ConfigError ? err.code : 'other';
    if (code === 'pki_key_mismatch') report.mismatched++;
    else if (code === 'pki_missing') report.missing++;
    else report.other++;
    if (report.errors.length < 5) report.errors.push(err instanceof Error ? err.message : String(err));
  }
}
process.stdout.write(JSON.stringify({ ...report, serials: report.serials.size }));
