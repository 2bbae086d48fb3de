/**
 * The settings `npm run bench:edge` reads, through the one settings parser (the README's settings
 * table lists them with the services'). ENVOY_BIN is the stack's row.
 */
import { path } from '../src/shared/settings/schemas.js';
import { setting } from '../src/shared/settings/setting.js';
import { STACK_SETTINGS } from '../src/stack/config.js';

export const BENCH_EDGE_SETTINGS = {
  envoyBin: STACK_SETTINGS.envoyBin,
  vegetaBin: setting('VEGETA_BIN', {
    default: '.tools/bin/vegeta',
    meaning: 'The load generator `npm run bench:edge` drives the edges with (vegeta v12.13.0: client certificates, fixed rates); `npm run setup:vegeta` installs it there. A relative path is taken from the working directory.',
    schema: path,
  }),
  opaEnvoyBin: setting('OPA_ENVOY_BIN', {
    meaning: 'opa-envoy-plugin built from its public source (README, "Performance"): the references\' policy layer in `npm run bench:edge`. Unset: the references are skipped.',
    schema: path.optional(),
  }),
  ratelimitBin: setting('RATELIMIT_BIN', {
    meaning: 'envoyproxy/ratelimit built from its public source (README, "Performance"): the references\' rate limit service in `npm run bench:edge`. Unset: the references are skipped.',
    schema: path.optional(),
  }),
} as const;
