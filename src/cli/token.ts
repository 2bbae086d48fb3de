import { Command } from 'commander';
import { mintToken } from '../pki/token.js';
import { parseDuration } from '../shared/settings/schemas.js';
import { durationOption, pkiContext, withPkiOptions, type PkiOptions } from './run.js';

interface TokenOptions extends PkiOptions {
  sub: string;
  tenant: string;
  roles: string;
  region: string;
  tier: string;
  ttl: string;
}

/** `token`: mints a dev JWT signed by the current key in $ZT_PKI_DIR/jwt. Defaults are alice's. */
export function tokenProgram(): Command {
  const program = new Command('token')
    .description('Mint a development JWT (ES256) with the current signing key. Prints the token on stdout. Defaults: the demo user alice.')
    .option('--sub <subject>', 'subject (user name)', 'alice')
    .option('--tenant <tenant>', 'tenant claim', 'acme')
    .option('--roles <roles>', 'comma-separated roles (viewer, rater, moderator, platform_admin)', 'rater')
    .option('--region <region>', 'region claim', 'us-east')
    .option('--tier <tier>', 'tier claim (free, starter, enterprise)', 'free')
    .option('--ttl <duration>', 'lifetime, at most jwt.max_token_ttl', '15m');
  withPkiOptions(program).action(async (opts: TokenOptions) => {
    const { layout, spec, settings } = pkiContext(opts);
    const token = await mintToken(
      layout,
      {
        sub: opts.sub,
        tenant: opts.tenant,
        roles: opts.roles.split(',').map((r) => r.trim()).filter(Boolean),
        region: opts.region,
        tier: opts.tier,
      },
      {
        issuer: settings.issuer,
        audience: settings.audience,
        ttlMs: durationOption('--ttl', opts.ttl, parseDuration),
        maxTtlMs: spec.jwt.maxTokenTtlMs,
      },
    );
    process.stdout.write(`${token}\n`);
  });
  return program;
}
