/**
 * The stack runner's one config module: its settings rows, read once through the one settings
 * parser and turned into {@link StackOptions}. Where the services listen comes from the topology
 * (pki/workloads.yaml), or free ports with --free-ports.
 */
import { ENVOY_CONFIG, LOG_LEVEL, PKI_CONFIG, PKI_DIR, PKI_ROOT_DIR, POLICY_DATA, POLICY_WASM, REDIS_URL, TRUST_DOMAIN } from '../shared/settings/common-settings.js';
import { requiredText, wholeNumber } from '../shared/settings/schemas.js';
import { readSettings, setting } from '../shared/settings/setting.js';
import { DEFAULT_UID_BASE, type StackOptions } from './stack.js';

/** The rows `npm start` reads. */
export const STACK_SETTINGS = {
  pkiDir: PKI_DIR,
  pkiRootDir: PKI_ROOT_DIR,
  pkiConfig: PKI_CONFIG,
  trustDomain: TRUST_DOMAIN,
  logLevel: LOG_LEVEL,
  redisUrl: REDIS_URL,
  policyWasm: POLICY_WASM,
  policyData: POLICY_DATA,
  envoyConfig: ENVOY_CONFIG,
  rotateIntervalS: setting('ROTATE_INTERVAL_S', {
    default: '60',
    meaning: 'How often `npm start` runs the certificate rotation, in seconds; 0 turns it off.',
    schema: wholeNumber(0, 86_400),
  }),
  uidBase: setting('STACK_UID_BASE', {
    default: String(DEFAULT_UID_BASE),
    meaning:
      'Run as root, `npm start` runs each service as a user of its own, this uid plus the workload\'s position in ZT_PKI_CONFIG, and hands it only its own key and Redis password; 0 runs every service as the runner (each can then read every key).',
    schema: wholeNumber(0, 2_000_000_000),
  }),
  envoyBin: setting('ENVOY_BIN', {
    default: '.venv/bin/envoy',
    meaning: 'The real Envoy that `npm start -- --edge envoy`, the tests and the benches run; `npm run setup:envoy` installs it there. A relative path is taken from the repository root.',
    schema: requiredText,
  }),
} as const;

/** Stack options from the environment; `--redis`, `--free-ports` and the like are laid over them. */
export function loadStackConfig(env: NodeJS.ProcessEnv = process.env): StackOptions {
  const s = readSettings(STACK_SETTINGS, env);
  return Object.freeze({
    pkiDir: s.pkiDir,
    pkiRootDir: s.pkiRootDir,
    pkiConfig: s.pkiConfig,
    uidBase: s.uidBase,
    ...(s.trustDomain === undefined ? {} : { trustDomain: s.trustDomain }),
    logLevel: s.logLevel,
    ...(s.redisUrl === undefined ? {} : { redis: { url: s.redisUrl.href } }),
    rotateIntervalMs: s.rotateIntervalS * 1000,
    envoyBin: s.envoyBin,
  });
}
