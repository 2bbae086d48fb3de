import assert from 'node:assert/strict';
import { summariseCpuProfile } from '../../../bench/cpuprofile.js';
import { parseProcStat, treeCpu, type ProcStat } from '../../../bench/proc-cpu.js';
import { parseEnvoyHistograms } from '../../../bench/edge-stacks.js';
import { parseBashTimes, parseVegetaReport } from '../../../bench/vegeta.js';

describe('bench parsers: what the edge bench reads from /proc, vegeta and V8', () => {
  it('reads utime and stime from a /proc/<pid>/stat line whose command holds spaces and parentheses', () => {
    const line = '4242 (node (tsx) x) S 4200 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 11 0 1000 0 0';
    const s = parseProcStat(line);
    assert.equal(s.pid, 4242);
    assert.equal(s.comm, 'node (tsx) x');
    assert.equal(s.ppid, 4200);
    assert.equal(s.cpuUs, 3_000_000); // (250 + 50) ticks at 100 per second
  });

  it('sums a process tree: a watchdog and the program under it, not its siblings', () => {
    const stats = new Map<number, ProcStat>([
      [10, { pid: 10, comm: 'node', ppid: 1, cpuUs: 100 }],
      [11, { pid: 11, comm: 'envoy', ppid: 10, cpuUs: 5000 }],
      [12, { pid: 12, comm: 'envoy-worker', ppid: 11, cpuUs: 7 }],
      [20, { pid: 20, comm: 'other', ppid: 1, cpuUs: 999 }],
    ]);
    assert.deepEqual(treeCpu(stats, 10), { cpuUs: 5107, comms: ['node', 'envoy', 'envoy-worker'] });
    assert.deepEqual(treeCpu(stats, 99), { cpuUs: 0, comms: [] });
  });

  it('turns vegeta\'s JSON report (nanoseconds) into milliseconds, rates and the status mix', () => {
    const report = JSON.stringify({
      latencies: { total: 0, mean: 2_500_000, '50th': 1_000_000, '90th': 3_000_000, '95th': 4_000_000, '99th': 9_876_543, max: 20_000_000, min: 100_000 },
      duration: 9_900_000_000,
      wait: 100_000_000,
      requests: 5000,
      rate: 505.05,
      throughput: 460.2,
      success: 0.92,
      status_codes: { '200': 4600, '403': 400 },
      errors: ['403 Forbidden'],
    });
    const r = parseVegetaReport(report, 1234);
    assert.equal(r.p50_ms, 1);
    assert.equal(r.p99_ms, 9.877);
    assert.equal(r.answered_per_s, 500);
    assert.deepEqual(r.status_codes, { '200': 4600, '403': 400 });
    assert.equal(r.loadgen_cpu_us, 1234);
  });

  it('reads an empty vegeta report (no answers at all) without failing', () => {
    const r = parseVegetaReport(JSON.stringify({ latencies: { mean: 0, '50th': 0, '90th': 0, '99th': 0, max: 0 }, duration: 0, wait: 0, requests: 0, rate: 0, throughput: 0, status_codes: null, errors: null }));
    assert.equal(r.answered_per_s, 0);
    assert.deepEqual(r.status_codes, {});
  });

  it('reads the children\'s CPU from bash\'s `times`', () => {
    assert.equal(parseBashTimes('0m0.010s 0m0.002s\n0m1.500s 1m0.250s\n'), 61_750_000);
  });

  it('ranks functions and their modules by self time over a window of a .cpuprofile, idle left out of the shares', () => {
    const frame = (functionName: string, url = '', lineNumber = 0): { functionName: string; url: string; lineNumber: number } => ({ functionName, url, lineNumber });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)') },
        { id: 2, callFrame: frame('(idle)') },
        { id: 3, callFrame: frame('verify', 'file:///repo/src/authz/jwt/verify.ts', 9) },
        { id: 4, callFrame: frame('evaluate', 'file:///elsewhere/node_modules/@open-policy-agent/opa-wasm/dist/opa.js', 99) },
        { id: 5, callFrame: frame('sign', 'file:///repo/src/authz/jwt/verify.ts', 30) },
      ],
      startTime: 0,
      endTime: 6000,
      // One sample per ms: verify x2, sign x1 (the same file), evaluate x1, idle x1; the last
      // sample falls outside the window.
      samples: [3, 5, 4, 3, 2, 3],
      timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000],
    };
    const s = summariseCpuProfile(JSON.stringify(profile), '/repo', 5, { fromUs: 0, toUs: 5000 });
    assert.equal(s.duration_ms, 5);
    assert.equal(s.busy_ms, 4);
    assert.deepEqual(
      s.functions.map((f) => [f.name, f.share]),
      [
        ['verify (src/authz/jwt/verify.ts:10)', 0.5],
        ['evaluate (node_modules/@open-policy-agent/opa-wasm/dist/opa.js:100)', 0.25],
        ['sign (src/authz/jwt/verify.ts:31)', 0.25],
        ['(root)', 0],
      ],
    );
    assert.deepEqual(
      s.modules.map((m) => [m.name, m.self_ms]),
      [
        ['src/authz/jwt/verify.ts', 3],
        ['@open-policy-agent/opa-wasm', 1],
        ['(native)', 0],
      ],
    );
  });
});

describe('parseEnvoyHistograms: Envoy\'s request-time quantiles from /stats', () => {
  it('takes the cumulative P50 and P99 of each histogram line and skips counters', () => {
    const text = [
      'cluster.authz.upstream_cx_total: 4',
      'cluster.authz.upstream_rq_time: P0(nan,0) P25(nan,1.025) P50(nan,1.5) P75(nan,2) P90(nan,3) P95(nan,4) P99(nan,9.5) P99.5(nan,10) P99.9(nan,12) P100(nan,14)',
    ].join('\n');
    assert.deepEqual(parseEnvoyHistograms(text), { 'cluster.authz.upstream_rq_time': { p50: 1.5, p99: 9.5 } });
  });
});
