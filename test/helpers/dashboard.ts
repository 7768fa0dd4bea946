import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ROOT } from './process.ts';

export const DASHBOARD_PATH = resolve(ROOT, 'deploy/grafana/dashboards/aibridge.json');

export function loadDashboard(): any {
  return JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8'));
}

/** Grafana's variable helpers wrap PromQL: keep the PromQL (label_values' label argument is not a metric). */
function unwrapVariable(query: string): string {
  const labelValues = /^label_values\((.*),\s*\w+\)$/.exec(query.trim());
  if (labelValues) return labelValues[1] as string;
  const queryResult = /^query_result\((.*)\)$/.exec(query.trim());
  return queryResult ? (queryResult[1] as string) : query;
}

/** Every PromQL expression in the dashboard: panel targets and template variable queries. */
export function dashboardQueries(dashboard: any): string[] {
  const panels: any[] = (dashboard.panels ?? []).flatMap((p: any) => [p, ...(p.panels ?? [])]);
  const targets = panels.flatMap((p) => (p.targets ?? []).map((t: any) => String(t.expr ?? '')));
  const variables = (dashboard.templating?.list ?? [])
    .filter((v: any) => v.type === 'query')
    .map((v: any) => unwrapVariable(String(typeof v.query === 'object' ? (v.query?.query ?? '') : v.query)));
  return [...targets, ...variables].filter(Boolean);
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset']);

/** Metric names the queries read: identifiers that are not functions, keywords, labels or variables. */
export function metricNames(queries: string[]): Set<string> {
  const names = new Set<string>();
  for (const query of queries) {
    // Drop label matchers, grouping clauses, ranges, strings and $variables, then take what is left.
    const bare = query
      .replace(/\{[^}]*\}/g, ' ')
      .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
      .replace(/\[[^\]]*\]/g, ' ')
      .replace(/"[^"]*"/g, ' ')
      .replace(/\$\w+/g, ' ');
    for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
      const next = bare.slice((m.index ?? 0) + m[0].length).trimStart();
      if (next.startsWith('(') || KEYWORDS.has(m[0])) continue; // a function call or an operator
      names.add(m[0]);
    }
  }
  return names;
}
