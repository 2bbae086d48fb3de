/**
 * Reads the LogQL of a Grafana dashboard and what it depends on, with Grafana's own LogQL grammar
 * (@grafana/lezer-logql): every query's syntax errors, and every log-line JSON field a query uses.
 */
import { readFileSync } from 'node:fs';
import { parser } from '@grafana/lezer-logql';
import { z } from 'zod';

/** Labels Alloy attaches to each stream (compose/alloy/config.alloy); everything else is parsed from the line. */
export const STREAM_LABELS: readonly string[] = ['service', 'region', 'container'];

/** Loki's own labels for parse and conversion errors, not fields of a log line. */
const INTERNAL_LABELS = new Set(['__error__', '__error_details__']);

export interface DashboardQuery {
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
}

interface PanelShape {
  title?: string | undefined;
  targets?: { refId?: string | undefined; expr?: string | undefined }[] | undefined;
  panels?: PanelShape[] | undefined;
}

const panelSchema: z.ZodType<PanelShape> = z.lazy(() =>
  z.object({
    title: z.string().optional(),
    targets: z.array(z.object({ refId: z.string().optional(), expr: z.string().optional() })).optional(),
    panels: z.array(panelSchema).optional(),
  }),
);
const dashboardSchema = z.object({ title: z.string(), panels: z.array(panelSchema) });

/** Every LogQL expression of the dashboard at `path`, including panels nested in rows. */
export function dashboardQueries(path: string): DashboardQuery[] {
  const dashboard = dashboardSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  const out: DashboardQuery[] = [];
  const visit = (panels: readonly PanelShape[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        if (t.expr !== undefined) out.push({ panel: p.title ?? '(untitled)', refId: t.refId ?? '?', expr: t.expr });
      }
      visit(p.panels ?? []);
    }
  };
  visit(dashboard.panels);
  return out;
}

/** The positions and text of every error node the LogQL grammar produces for `expr`; empty when it parses. */
export function logqlErrors(expr: string): string[] {
  const errors: string[] = [];
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(`at ${node.from}: "${expr.slice(node.from, node.to)}"`);
    },
  });
  return errors;
}

/**
 * The log-line JSON fields the queries of a dashboard reference: label filters in a pipeline that
 * parses the line with `| json`, `unwrap` targets, and `by (...)`/`without (...)` groupings that
 * are not stream labels. Sorted, without duplicates.
 */
export function dashboardJsonFields(dashboardPath: string): string[] {
  const fields = new Set<string>();
  for (const { expr } of dashboardQueries(dashboardPath)) {
    for (const f of jsonFields(expr)) fields.add(f);
  }
  return [...fields].sort();
}

/** The JSON fields one LogQL expression references (see dashboardJsonFields). */
export function jsonFields(expr: string): string[] {
  const tree = parser.parse(expr);
  let parsesJson = false;
  tree.iterate({
    enter: (node) => {
      if (node.name === 'Json') parsesJson = true;
    },
  });
  const found = new Set<string>();
  const add = (name: string): void => {
    if (!INTERNAL_LABELS.has(name) && !STREAM_LABELS.includes(name)) found.add(name);
  };
  tree.iterate({
    enter: (node) => {
      if (node.name === 'LabelFilter' && parsesJson) {
        // The field is the filter's first identifier, the one before the operator.
        const id = firstDescendant(node.node, 'Identifier');
        if (id) add(expr.slice(id.from, id.to));
        return false;
      }
      if (node.name === 'UnwrapExpr') {
        // `| unwrap f | __error__=""` nests: the identifier belongs to the innermost UnwrapExpr.
        const id = node.node.getChild('Identifier');
        if (id) add(expr.slice(id.from, id.to));
        return undefined;
      }
      if (node.name === 'Grouping') {
        for (const id of node.node.getChildren('Labels').flatMap((l) => l.getChildren('Identifier'))) add(expr.slice(id.from, id.to));
        return false;
      }
      return undefined;
    },
  });
  return [...found];
}

type TreeNode = ReturnType<typeof parser.parse>['topNode'];

function firstDescendant(node: TreeNode, name: string): TreeNode | null {
  const cursor = node.cursor();
  if (!cursor.firstChild()) return null;
  do {
    if (cursor.name === name) return cursor.node;
    const inner = firstDescendant(cursor.node, name);
    if (inner) return inner;
  } while (cursor.nextSibling());
  return null;
}
