import type { Logger } from '../shared/logger.js';
import type { AuthzReason } from './reasons.js';

/**
 * One line per decision (`msg: "decision"`), the fields a Grafana dashboard is built on. Exactly
 * these fields, always present (null when unknown); never the token or the Authorization header.
 */
export interface DecisionRecord {
  request_id: string;
  subject: string | null;
  tenant: string | null;
  tier: string | null;
  client_spiffe_id: string | null;
  edge_region: string | null;
  method: string;
  path: string;
  decision: 'allow' | 'deny';
  reason: AuthzReason;
  status: number;
  /** Bucket name → whole tokens left after this request (empty when nothing was charged). */
  buckets: Record<string, number>;
  latency_us: number;
}

/** Writes a decision line at info level. */
export function logDecision(logger: Logger, record: DecisionRecord): void {
  logger.info(record, 'decision');
}
