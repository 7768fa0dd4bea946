import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Metrics } from '../../src/observability/metrics.ts';
import { dashboardQueries, loadDashboard, metricNames } from '../helpers/dashboard.ts';
import { ROOT } from '../helpers/process.ts';
import { parsePrometheus } from '../helpers/prometheus.ts';

const dashboard = loadDashboard();
const DATASOURCE = '$' + '{datasource}'; // Grafana's variable syntax, not a template string
const panels: any[] = dashboard.panels;
const queries = dashboardQueries(dashboard);

describe('Grafana dashboard (deploy/grafana/dashboards/aibridge.json)', () => {
  it('is a provisionable dashboard on a Prometheus datasource the viewer picks, never a fixed uid', () => {
    expect(dashboard).toMatchObject({ uid: 'aibridge', title: 'AI Bridge' });
    expect(dashboard.id ?? null).toBeNull(); // provisioning assigns ids
    const variable = dashboard.templating.list.find((v: any) => v.name === 'datasource');
    expect(variable).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const sources = [
      ...panels
        .filter((p) => p.type !== 'row')
        .flatMap((p) => [p.datasource, ...p.targets.map((t: any) => t.datasource)]),
      ...dashboard.templating.list.filter((v: any) => v.type === 'query').map((v: any) => v.datasource),
    ];
    expect(sources.length).toBeGreaterThan(panels.length);
    expect(sources.filter((d) => d?.type !== 'prometheus' || d?.uid !== DATASOURCE)).toEqual([]);
    // No uid of a particular Grafana's datasource anywhere in the file.
    expect(JSON.stringify(dashboard)).not.toMatch(/"uid":"(?!\$\{datasource\}|aibridge")/);
    const datasources = parse(
      readFileSync(resolve(ROOT, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
    );
    expect(datasources.datasources.find((d: any) => d.type === 'prometheus').uid).toBe('prometheus');
    const provider = parse(readFileSync(resolve(ROOT, 'deploy/grafana/provisioning/dashboards/aibridge.yml'), 'utf8'));
    const compose = parse(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8'));
    expect(compose.services.grafana.volumes).toContain(
      `./deploy/grafana/dashboards:${provider.providers[0].options.path}:ro`,
    );
  });

  it('has the provider, model, client and user variables, used by the queries', () => {
    const variables = dashboard.templating.list.filter((v: any) => v.type === 'query').map((v: any) => v.name);
    expect(variables).toEqual(['provider', 'model', 'client', 'user']);
    for (const name of variables)
      expect(
        queries.some((q) => q.includes(`$${name}`)),
        name,
      ).toBe(true);
    // Users are picked by name, filtered by id.
    const user = dashboard.templating.list.find((v: any) => v.name === 'user');
    expect(user.regex).toContain('(?<text>');
    expect(user.query).toContain('aibridge_user_info');
  });

  it('lays out unique panels on the 24-column grid, each with a description and a query', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.description, p.title).toBeTruthy();
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.expr, p.title).toMatch(/\S/);
    }
  });

  it('has the panels operators need', () => {
    const titles = panels.map((p) => p.title);
    for (const title of [
      'Interceptions by provider, model and client',
      'In-flight interceptions',
      'Interception latency',
      'Tokens by type',
      'Top users by tokens',
      'Top users by interceptions',
      'Injected tool calls by server and tool',
      'Injected tool error rate',
      'Recorder backlog',
      'Refused requests by reason',
      'Circuit breaker state',
    ])
      expect(titles).toContain(title);
    const latency = panels.find((p) => p.title === 'Interception latency');
    expect(latency.targets.map((t: any) => t.expr).join()).toMatch(/histogram_quantile\(0\.99/);
    const circuits = panels.find((p) => p.title === 'Circuit breaker state');
    expect(circuits.fieldConfig.defaults.mappings[0].options).toMatchObject({
      0: { text: 'closed' },
      1: { text: 'half-open' },
      2: { text: 'open' },
    });
    const leaderboard = panels.find((p) => p.title === 'Top users by tokens');
    expect(leaderboard.targets[0].expr).toMatch(/group_left \(username\)/);
  });

  it('only queries metrics the bridge exposes', async () => {
    const exposed = parsePrometheus(await new Metrics().registry.metrics()).names();
    const used = metricNames(queries);
    expect([...used].filter((name) => !exposed.has(name))).toEqual([]);
    for (const name of ['aibridge_interceptions_total', 'aibridge_tokens_total', 'aibridge_user_info'])
      expect(used.has(name)).toBe(true);
  });
});
