/**
 * The one error type that crosses a service boundary. Its `code` is a stable reason string
 * (DESIGN.md) that clients, metrics and logs key on; `publicMessage` is the only text a client sees.
 * Library error text (jose, ioredis, node-forge) goes into `cause` and is logged, never returned.
 */

/** Reason codes of the policy service, exactly as DESIGN.md lists them. */
export const REASONS = [
  'allowed',
  'missing_token',
  'invalid_token',
  'token_expired',
  'no_client_cert',
  'untrusted_peer',
  'cross_region',
  'tenant_mismatch',
  'forbidden_role',
  'rate_limited',
  'policy_error',
  'unavailable',
] as const;
export type Reason = (typeof REASONS)[number];

export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly publicMessage: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly details: unknown;

  constructor(
    code: string,
    status: number,
    publicMessage: string,
    options: { cause?: unknown; headers?: Record<string, string>; details?: unknown } = {},
  ) {
    super(publicMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = status;
    this.publicMessage = publicMessage;
    this.headers = Object.freeze({ ...(options.headers ?? {}) });
    this.details = options.details;
  }
}

/**
 * An error in operator input (a setting, a file, a command-line argument). The message names the
 * input; command-line wrappers print it without a stack trace and exit non-zero.
 */
export class ConfigError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ConfigError';
    this.code = code;
  }
}

/** Returns the message of anything thrown, for logs and operator output. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
