/**
 * The one settings parser. A setting is a row: its environment variable, its default as the README
 * shows it, what it means, and a zod schema that turns the text into the value. Each process lists
 * the rows it reads (common rows live in common-settings.ts, a service's own in its config module),
 * reads them once at start with {@link readSettings} and gets typed, frozen values; a bad value is a
 * ConfigError that names the variable and never shows a secret. The README's table is rendered
 * from the same rows (`npm run docs:settings`).
 */
import type { z } from 'zod';
import { ConfigError } from '../errors.js';

/** One row of the settings table. */
export interface Setting<T> {
  /** The environment variable. */
  readonly name: string;
  /** The default as text, as the README shows it; undefined means "unset". May name `$ZT_PKI_DIR`. */
  readonly default: string | undefined;
  readonly meaning: string;
  /** Turns the text (undefined when unset and without a default) into the value, or fails with a reason. */
  readonly schema: z.ZodType<T, string | undefined>;
  /** The value can hold a secret (a URL's password): an error names the variable but never its value. */
  readonly secret: boolean;
}

/** Declares a row; see {@link Setting}. */
export function setting<S extends z.ZodType<unknown, string | undefined>>(
  name: string,
  spec: { readonly default?: string; readonly meaning: string; readonly schema: S; readonly secret?: boolean },
): Setting<z.output<S>> {
  return Object.freeze({ name, default: spec.default, meaning: spec.meaning, schema: spec.schema as z.ZodType<z.output<S>, string | undefined>, secret: spec.secret ?? false });
}

/** The rows a process reads, by the name of the config field each fills. */
export type SettingRows = Readonly<Record<string, Setting<unknown>>>;

/** The values of `rows`, typed by each row's schema. */
export type SettingValues<R extends SettingRows> = { readonly [K in keyof R]: R[K] extends Setting<infer T> ? T : never };

/**
 * Reads every row from `env` once: the trimmed value when set and non-empty, else the default,
 * parsed by the row's schema. `$NAME` inside a default is the text of setting NAME (set or default),
 * so `$ZT_PKI_DIR/jwt/jwks.json` follows ZT_PKI_DIR. The result is frozen.
 */
export function readSettings<R extends SettingRows>(rows: R, env: NodeJS.ProcessEnv = process.env): SettingValues<R> {
  const byName = new Map(Object.values(rows).map((row) => [row.name, row]));
  const text = (row: Setting<unknown>): string | undefined => {
    const given = env[row.name]?.trim();
    if (given !== undefined && given !== '') return given;
    return row.default?.replace(/\$([A-Z][A-Z0-9_]*)/g, (whole, name: string) => {
      const other = byName.get(name);
      return other === undefined ? (env[name]?.trim() ?? whole) : (text(other) ?? whole);
    });
  };
  const out: Record<string, unknown> = {};
  for (const [key, row] of Object.entries(rows)) out[key] = parseSetting(row, text(row));
  return Object.freeze(out) as SettingValues<R>;
}

/** Parses one row's text; the error names the variable and shows the value unless it may be secret. */
export function parseSetting<T>(row: Setting<T>, value: string | undefined): T {
  const parsed = row.schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const reason = parsed.error.issues[0]?.message ?? 'not valid';
  const shown = value === undefined ? '' : row.secret ? ' (the value is not shown: it may hold a secret)' : ` (got "${value}")`;
  throw new ConfigError('bad_setting', `${row.name}: ${reason}${shown}`);
}

/** One process's rows, for the README table's "used by" column. */
export interface SettingsOf {
  readonly process: string;
  readonly rows: SettingRows;
}

/** The README's settings table: every row once, in first-seen order, with the processes that read it. */
export function settingsMarkdown(all: readonly SettingsOf[]): string {
  const seen = new Map<string, { row: Setting<unknown>; users: string[] }>();
  for (const { process: user, rows } of all) {
    for (const row of Object.values(rows)) {
      const entry = seen.get(row.name) ?? { row, users: [] };
      if (entry.row !== row) throw new Error(`two different rows are called ${row.name}`);
      if (!entry.users.includes(user)) entry.users.push(user);
      seen.set(row.name, entry);
    }
  }
  const lines = ['| setting | default | used by | meaning |', '| --- | --- | --- | --- |'];
  for (const { row, users } of seen.values()) {
    const def = row.default === undefined ? '' : `\`${row.default}\``;
    lines.push(`| \`${row.name}\` | ${def} | ${users.join(', ')} | ${row.meaning} |`);
  }
  return lines.join('\n');
}
