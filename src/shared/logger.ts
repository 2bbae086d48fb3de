import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/**
 * The structured logger for every process. One JSON line per event on stdout, with `service` (and
 * `region` for edges) bound so that Alloy can label the stream in Loki. Authorization headers and
 * tokens are redacted by path as a second line of defence; code never logs them on purpose.
 */
export function createLogger(
  service: string,
  options: { level?: string | undefined; bindings?: Record<string, string>; destination?: DestinationStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service, ...(options.bindings ?? {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'msg',
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['token', 'authorization', 'headers.authorization', 'req.headers.authorization', '*.token'],
        censor: '[redacted]',
      },
    },
    options.destination,
  );
}
