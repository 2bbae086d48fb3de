import { Command } from 'commander';
import { mintToken } from '../pki/token.js';
import { x5tS256 } from '../shared/pki/cert-thumbprint.js';
import { readWorkloadMaterial } from '../shared/pki/workload-material.js';
import { parseDuration } from '../shared/settings/schemas.js';
import { workloadNamed } from '../shared/topology.js';
import { durationOption, pkiContext, withPkiOptions, type PkiOptions } from './run.js';

interface TokenOptions extends PkiOptions {
  sub: string;
  tenant: string;
  roles: string;
  region: string;
  tier: string;
  ttl: string;
  bind?: string;
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
    .option('--ttl <duration>', 'lifetime, at most jwt.max_token_ttl', '15m')
    .option(
      '--bind <workload>',
      "bind the token to this workload's current client certificate (cnf x5t#S256, RFC 8705), e.g. client-alice; tenants that require bound tokens (acme) refuse unbound ones. Re-mint after the certificate rotates.",
    )
    .addHelpText('after', '\nExample: the demo user alice, bound to her certificate:\n  npm run token -- --bind client-alice\n');
  withPkiOptions(program).action(async (opts: TokenOptions) => {
    const { layout, spec, settings } = pkiContext(opts);
    let boundTo: string | undefined;
    if (opts.bind !== undefined) {
      workloadNamed(spec, opts.bind);
      // `current` as it is now: after a rotation the new certificate needs a new token.
      boundTo = x5tS256((await readWorkloadMaterial(layout, opts.bind)).leaf);
    }
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
        ...(boundTo === undefined ? {} : { boundTo }),
      },
    );
    process.stdout.write(`${token}\n`);
  });
  return program;
}
