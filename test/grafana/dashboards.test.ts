/**
 * The Grafana folder: the committed dashboards are what grafana/src generates, pass the
 * lint (which is shown catching each mistake it is for), and every expression parses;
 * provisioning and compose agree on paths; promtool accepts prometheus.yml.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Panel } from '@grafana/schema';
import { defaultDashboard } from '@grafana/schema';
import { afterAll, describe, expect, it } from 'vitest';
import { dashboards, render } from '../../grafana/src/dashboards.ts';
import { datasource } from '../../grafana/src/panels.ts';
import { expressions, fillTokens, lint } from './dashboard-lint.ts';

const grafana = new URL('../../grafana/', import.meta.url);
const text = (path: string): string => readFileSync(new URL(path, grafana), 'utf8');
const committed = (file: string): unknown => JSON.parse(text(`dashboards/${file}`));

const PROMTOOL = '/usr/bin/promtool';
const promtool = (...args: string[]): string => {
  if (!existsSync(PROMTOOL)) {
    throw new Error(
      `${PROMTOOL} is missing: install the Debian package prometheus (apt-get install prometheus)`,
    );
  }
  return execFileSync(PROMTOOL, args, { encoding: 'utf8', stdio: 'pipe' });
};

const files = Object.keys(dashboards);

describe.each(Object.entries(dashboards))('grafana/dashboards/%s', (file, dashboard) => {
  it('is what grafana/src generates (run npx tsx grafana/src/write.ts after editing it)', () => {
    expect(text(`dashboards/${file}`)).toBe(render(dashboard));
  });

  it('passes the lint', () => {
    expect(lint(committed(file))).toEqual([]);
  });

  it("is on the schema version @grafana/schema's dashboards have", () => {
    expect(dashboard.schemaVersion).toBe(defaultDashboard.schemaVersion);
  });
});

describe('the expressions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-promql-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('all parse, as promtool reads them in recording rules', () => {
    const all = files.flatMap((file) => expressions(committed(file)));
    expect(all.length).toBeGreaterThan(40);
    const rules = all.map(({ expr }, i) => ({
      record: `hotline_dashboard_expr_${i}`,
      expr: fillTokens(expr, {
        $node: 'hotline',
        $__rate_interval: '20s',
        $__interval: '5s',
        $__range: '15m',
      }),
    }));
    // JSON is YAML: no YAML writer needed.
    const path = join(dir, 'rules.yml');
    writeFileSync(path, JSON.stringify({ groups: [{ name: 'dashboards', rules }] }));
    expect(promtool('check', 'rules', path)).toContain(`SUCCESS: ${rules.length} rules found`);
  });
});

describe('the lint', () => {
  type Json = Record<string, unknown>;
  /** A copy of the committed overview, and the object at a path in it to break. */
  const copy = (): Json => structuredClone(committed('overview.json')) as Json;
  const at = (root: Json, ...path: Array<string | number>): Json =>
    path.reduce<Json>((o, key) => {
      const next = (o as Record<string | number, unknown>)[key];
      if (typeof next !== 'object' || next === null) throw new Error(`nothing at ${path.join('.')}`);
      return next as Json;
    }, root);
  const rename = (o: Json, from: string, to: string): void => {
    o[to] = o[from];
    delete o[from];
  };
  // panels[0] is a row; panels[1] the first stat.
  const PANEL = ['panels', 1] as const;

  it('catches a misspelled field: fieldConfg', () => {
    const d = copy();
    rename(at(d, ...PANEL), 'fieldConfig', 'fieldConfg');
    expect(lint(d)).toEqual(['panels[1].fieldConfg: not a field of Panel']);
  });

  it('catches misspelled fields of the dashboard, field defaults, targets, variables and annotations', () => {
    const d = copy();
    rename(d, 'title', 'titel');
    rename(at(d, ...PANEL, 'fieldConfig', 'defaults'), 'unit', 'units');
    rename(at(d, ...PANEL, 'targets', 0), 'legendFormat', 'legend');
    rename(at(d, 'templating', 'list', 1), 'includeAll', 'includeALL');
    rename(at(d, 'annotations', 'list', 0), 'tagKeys', 'tags');
    expect(lint(d)).toEqual([
      'dashboard.titel: not a field of Dashboard',
      'panels[1].fieldConfig.defaults.units: not a field of FieldConfig',
      'panels[1].targets[0].legend: not a field of a Prometheus query',
      'templating.list[1].includeALL: not a field of VariableModel',
      'annotations.list[0].tags: not a field of AnnotationQuery',
    ]);
  });

  it('catches a panel, a target, a variable or an annotation without the datasource', () => {
    const d = copy();
    delete at(d, ...PANEL).datasource;
    delete at(d, 'panels', 2, 'targets', 0).datasource;
    at(d, 'templating', 'list', 1).datasource = { type: 'prometheus', uid: 'hotline-prometheus' };
    delete at(d, 'annotations', 'list', 2, 'target').datasource;
    const must = `datasource must be ${JSON.stringify(datasource)}`;
    expect(lint(d)).toEqual([
      `panels[1]: ${must}`,
      `panels[2].targets[0]: ${must}`,
      `templating.list[1]: ${must}`,
      `annotations.list[2].target: ${must}`,
    ]);
  });

  it('catches duplicate panel ids', () => {
    const d = copy();
    at(d, 'panels', 3).id = at(d, ...PANEL).id;
    expect(lint(d)).toEqual(["panels[3]: id 2 is also panels[1]'s"]);
  });

  it('catches overlapping panels and panels off the grid', () => {
    const d = copy();
    at(d, 'panels', 2, 'gridPos').x = 2;
    at(d, 'panels', 6, 'gridPos').x = 22;
    expect(lint(d)).toEqual([
      'panels[6].gridPos: off the 24-column grid',
      'panels[1] and panels[2]: gridPos overlap',
    ]);
  });

  it('catches template tokens other than $node, $__rate_interval, $__interval and $__range', () => {
    const d = copy();
    const target = at(d, ...PANEL, 'targets', 0);
    target.expr = `${String(target.expr)} + on() group_left() $instance * [[node]] * \${node}`;
    expect(lint(d)).toEqual([
      'panels[1].targets[0]: template token $instance (allowed: $node $__rate_interval $__interval $__range)',
      'panels[1].targets[0]: template token [[node]] (allowed: $node $__rate_interval $__interval $__range)',
      `panels[1].targets[0]: template token \${node} (allowed: $node $__rate_interval $__interval $__range)`,
    ]);
  });

  it('catches a panel without help text', () => {
    const d = copy();
    delete at(d, ...PANEL).description;
    expect(lint(d)).toEqual(['panels[1]: no description (help text)']);
  });

  it('agrees with tsc, which rejects the same misspelling in the sources', () => {
    // @ts-expect-error: npm run typecheck fails if Panel ever accepts 'fieldConfg'.
    const misspelled: Panel = { type: 'timeseries', id: 99, fieldConfg: { defaults: {}, overrides: [] } };
    const d = copy();
    const panels = d.panels as unknown[];
    d.panels = [...panels, { ...misspelled, gridPos: { x: 0, y: 999, w: 24, h: 8 } }];
    expect(lint(d)).toContain(`panels[${panels.length}].fieldConfg: not a field of Panel`);
  });
});

describe('provisioning and compose', () => {
  // No YAML parser is installed: the lines that tie the files together are matched as text.
  const lines = (path: string): string[] =>
    text(path)
      .split('\n')
      .map((l) => l.trim());

  it('provisions one default Prometheus datasource at the address Prometheus listens on', () => {
    const ds = lines('provisioning/datasources/prometheus.yml');
    for (const line of [
      'apiVersion: 1',
      'type: prometheus',
      'uid: hotline-prometheus',
      'url: http://127.0.0.1:9090',
      'isDefault: true',
      'timeInterval: 5s',
    ]) {
      expect(ds).toContain(line);
    }
    expect(lines('prometheus.yml')).toContain('scrape_interval: 5s');
    expect(lines('compose.yaml')).toContain('- --web.listen-address=127.0.0.1:9090');
  });

  it('loads the dashboards from where compose mounts grafana/dashboards', () => {
    const provider = lines('provisioning/dashboards/hotline.yml');
    expect(provider).toEqual(
      expect.arrayContaining(['apiVersion: 1', 'type: file', 'path: $HOTLINE_DASHBOARDS']),
    );
    const compose = lines('compose.yaml');
    const mounted = compose.find((l) => l.startsWith('- ./dashboards:'))?.split(':')[1];
    expect(mounted).toBe('/var/lib/grafana/dashboards/hotline');
    expect(compose).toContain(`HOTLINE_DASHBOARDS: ${mounted}`);
    expect(compose).toContain(`GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: ${mounted}/overview.json`);
    expect(compose).toContain('- ./provisioning:/etc/grafana/provisioning:ro');
    expect(compose).toContain('- ./prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(files).toContain('overview.json');
  });

  it('promtool check config accepts prometheus.yml', () => {
    expect(promtool('check', 'config', new URL('prometheus.yml', grafana).pathname)).toContain('SUCCESS');
  });
});
