import express, { type Express } from 'express';
import type { Registry } from 'prom-client';

/** A readiness condition: a name for the report and a check that answers now. */
export interface ReadinessCheck {
  readonly name: string;
  ready(): boolean;
}

/**
 * The plain-HTTP admin app every service serves on loopback: `/healthz` (the process answers),
 * `/readyz` (every readiness check passes; 503 with the failing names otherwise) and, when a
 * registry is given, `/metrics` in the Prometheus text format.
 */
export function buildAdminApp(checks: readonly ReadinessCheck[], registry?: Registry): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const failing = checks.filter((c) => !c.ready()).map((c) => c.name);
    res.status(failing.length ? 503 : 200).json({ ready: failing.length === 0, failing });
  });
  if (registry) {
    app.get('/metrics', async (_req, res) => {
      res.type(registry.contentType).send(await registry.metrics());
    });
  }
  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  return app;
}
