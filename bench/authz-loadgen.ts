/**
 * The load generator of `bench/authz.ts`, run as a separate process (child_process.fork) so that
 * its CPU is not the server's. It speaks to a target as an edge does: mTLS with an edge certificate
 * over a few keep-alive connections per edge, replaying a pre-built list of requests. Two modes:
 * `max` (closed loop: a fixed number of requests in flight, as fast as the target answers) and
 * `rate` (open loop at a fixed rate; latency runs from each request's scheduled time, so a stall
 * shows up in the percentiles instead of being hidden by the schedule slipping).
 */
import { connect as h2Connect, type ClientHttp2Session } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';

/** One request to replay. */
export interface LoadRequest {
  readonly edge: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

/** What the parent asks for. */
export interface LoadJob {
  readonly port: number;
  readonly servername: string;
  /** TLS client material by edge name. */
  readonly tls: Record<string, { cert: string; key: string; ca: string }>;
  readonly requests: readonly LoadRequest[];
  readonly mode: 'max' | 'rate';
  readonly seconds: number;
  /** Requests per second in `rate` mode. */
  readonly rate?: number;
  /** Requests in flight in `max` mode. */
  readonly concurrency?: number;
  /** Keep-alive connections per edge (HTTP/1.1); with `h2`, one session per edge carries every stream. */
  readonly connections: number;
  /** The protocol: HTTP/1.1 over a keep-alive pool (the default), or h2 as Envoy's authz cluster speaks it. */
  readonly protocol?: 'http/1.1' | 'h2';
}

/** What the load generator reports. */
export interface LoadResult {
  readonly completed: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perS: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  readonly statuses: Record<string, number>;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

async function run(job: LoadJob): Promise<LoadResult> {
  const agents = new Map<string, Agent>();
  for (const [edge, tls] of Object.entries(job.tls)) {
    agents.set(edge, new Agent({ keepAlive: true, maxSockets: job.connections, maxFreeSockets: job.connections, ...tls, servername: job.servername }));
  }
  const bodies = job.requests.map((r) => (r.body === undefined ? undefined : Buffer.from(r.body)));
  const capacity = Math.ceil((job.mode === 'rate' ? (job.rate ?? 1000) : 50_000) * job.seconds * 1.2) + 1000;
  let latencies = new Float64Array(capacity);
  let completed = 0;
  let errors = 0;
  const statuses: Record<string, number> = {};

  const record = (status: string, t0: number, done: () => void): void => {
    if (completed >= latencies.length) {
      const bigger = new Float64Array(latencies.length * 2);
      bigger.set(latencies);
      latencies = bigger;
    }
    latencies[completed++] = (performance.now() - t0) * 1000;
    statuses[status] = (statuses[status] ?? 0) + 1;
    done();
  };
  const sessions = new Map<string, ClientHttp2Session>();
  if (job.protocol === 'h2') {
    for (const [edge, tls] of Object.entries(job.tls)) sessions.set(edge, h2Connect(`https://127.0.0.1:${job.port}`, { ...tls, servername: job.servername }));
  }
  const sendH2 = (r: LoadRequest, body: Buffer | undefined, t0: number, done: () => void): void => {
    // Envoy names the host in :authority over h2.
    const { host, ...headers } = r.headers;
    const stream = sessions.get(r.edge)!.request({ ':method': r.method, ':path': r.path, ...(host === undefined ? {} : { ':authority': host }), ...headers });
    let status = '0';
    stream.on('response', (h) => {
      status = String(h[':status']);
    });
    stream.on('data', () => undefined);
    stream.on('end', () => record(status, t0, done));
    stream.on('error', () => {
      errors++;
      done();
    });
    stream.end(body);
  };

  const send = (i: number, t0: number, done: () => void): void => {
    const r = job.requests[i % job.requests.length]!;
    const body = bodies[i % bodies.length];
    if (job.protocol === 'h2') {
      sendH2(r, body, t0, done);
      return;
    }
    const req = httpsRequest(
      { host: '127.0.0.1', port: job.port, method: r.method, path: r.path, headers: r.headers, agent: agents.get(r.edge)!, servername: job.servername },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => record(String(res.statusCode), t0, done));
      },
    );
    req.on('error', () => {
      errors++;
      done();
    });
    req.end(body);
  };

  const start = performance.now();
  const endAt = start + job.seconds * 1000;
  if (job.mode === 'max') {
    let next = 0;
    await new Promise<void>((resolve) => {
      let inFlight = 0;
      const pump = (): void => {
        while (inFlight < (job.concurrency ?? 64) && performance.now() < endAt) {
          inFlight++;
          send(next++, performance.now(), () => {
            inFlight--;
            if (performance.now() < endAt) pump();
            else if (inFlight === 0) resolve();
          });
        }
        if (inFlight === 0) resolve();
      };
      pump();
    });
  } else {
    const rate = job.rate ?? 1000;
    const total = Math.round(rate * job.seconds);
    let sent = 0;
    let finished = 0;
    await new Promise<void>((resolve) => {
      const onDone = (): void => {
        if (++finished === total) resolve();
      };
      const tick = (): void => {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
        while (sent < due) {
          const i = sent++;
          send(i, start + (i * 1000) / rate, onDone);
        }
        if (sent < total) setTimeout(tick, 1);
      };
      tick();
    });
  }
  const elapsed = (performance.now() - start) / 1000;
  for (const agent of agents.values()) agent.destroy();
  for (const session of sessions.values()) session.destroy();
  const sorted = latencies.slice(0, completed).sort();
  return {
    completed,
    errors,
    seconds: elapsed,
    perS: completed / elapsed,
    p50Us: quantile(sorted, 0.5),
    p90Us: quantile(sorted, 0.9),
    p99Us: quantile(sorted, 0.99),
    maxUs: sorted[sorted.length - 1] ?? 0,
    statuses,
  };
}

process.once('message', (job: LoadJob) => {
  run(job).then(
    (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
    (err: unknown) => process.send?.({ ok: false, error: String(err) }, () => process.exit(1)),
  );
});
