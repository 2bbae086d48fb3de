/**
 * The shape of the policy data (`policies/data.json`, setting POLICY_DATA): every number and region
 * the Rego policy uses. Checked once at load so that a typo fails the start, not each request.
 */
import { z } from 'zod';

const positive = z.number().positive().finite();

const BucketSchema = z.object({ capacity: positive, refill_per_s: positive, cost: positive });

// Tenant names become bucket keys (`tenant:<name>`, `user:<name>:<sub>`) and path segments, so a
// colon, slash or dot segment in one could collide or confuse.
const tenantName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'a tenant name is letters, digits, "_" and "-"');

const CrossRegionEntrySchema = z.object({
  /** Why the entry exists; the policy ignores it. */
  description: z.string().optional(),
  from: z.string().min(1),
  to: z.string().min(1),
  methods: z.array(z.string().regex(/^[A-Z]+$/, 'methods are upper-case HTTP methods')).min(1),
  path_prefix: z.string().startsWith('/'),
});

/** What the policy reads from `data`. Unknown keys are dropped before the data reaches the policy. */
export const PolicyDataSchema = z
  .object({
    tiers: z.record(z.string().min(1), z.object({ per_minute: positive })),
    limits: z.object({
      global: BucketSchema,
      user_write: BucketSchema,
      tenant: z.object({ cost: positive }),
    }),
    tenants: z.record(
      tenantName,
      z.object({
        home_region: z.string().min(1),
        tier: z.string().min(1),
        /** Tokens for this tenant must be bound to the presenting client certificate (RFC 8705 cnf x5t#S256). */
        require_bound_token: z.boolean().optional(),
        /** A token's `sub` must be the user the presenting client certificate names. */
        subject_must_match_client: z.boolean().optional(),
      }),
    ),
    cross_region_allow: z.array(CrossRegionEntrySchema),
  })
  .superRefine((data, ctx) => {
    // The policy would answer policy_error for every request of such a tenant; say so at load.
    for (const [name, tenant] of Object.entries(data.tenants)) {
      if (!Object.hasOwn(data.tiers, tenant.tier)) {
        ctx.addIssue({ code: 'custom', path: ['tenants', name, 'tier'], message: `unknown tier "${tenant.tier}"` });
      }
    }
    data.cross_region_allow.forEach((entry, i) => {
      if (entry.from === entry.to) {
        ctx.addIssue({ code: 'custom', path: ['cross_region_allow', i], message: 'from and to are the same region' });
      }
    });
  });
export type PolicyData = z.infer<typeof PolicyDataSchema>;
