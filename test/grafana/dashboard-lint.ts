/**
 * A lint for dashboard JSON, for what tsc cannot see: the committed files (or a copy edited
 * in Grafana and exported) are plain JSON. It reports keys @grafana/schema does not have,
 * panels, queries, annotations and query variables that do not name the dashboards'
 * datasource, duplicate panel ids, panels off the grid or on top of each other, and
 * template tokens in expressions other than the few the dashboards may use.
 */

import type {
  Dashboard,
  FieldConfig,
  FieldConfigSource,
  GridPos,
  Panel,
  RowPanel,
  VariableModel,
} from '@grafana/schema';
import { datasource, type PromAnnotation, type PromQuery } from '../../grafana/src/panels.ts';

/**
 * The keys of T, each listed once. The Record type makes tsc reject a key T does not have
 * and demand every key it has, so each set is exactly what @grafana/schema declares.
 */
const keysOf = <T>(keys: Record<keyof T, true>): ReadonlySet<string> => new Set(Object.keys(keys));

const DASHBOARD = keysOf<Dashboard>({
  annotations: true,
  description: true,
  editable: true,
  fiscalYearStartMonth: true,
  gnetId: true,
  graphTooltip: true,
  id: true,
  links: true,
  liveNow: true,
  panels: true,
  preload: true,
  refresh: true,
  revision: true,
  schemaVersion: true,
  snapshot: true,
  tags: true,
  templating: true,
  time: true,
  timepicker: true,
  timezone: true,
  title: true,
  uid: true,
  version: true,
  weekStart: true,
});

const PANEL = keysOf<Panel>({
  autoMigrateFrom: true,
  cacheTimeout: true,
  datasource: true,
  description: true,
  fieldConfig: true,
  gridPos: true,
  hideTimeOverride: true,
  id: true,
  interval: true,
  libraryPanel: true,
  links: true,
  maxDataPoints: true,
  maxPerRow: true,
  options: true,
  pluginVersion: true,
  queryCachingTTL: true,
  repeat: true,
  repeatDirection: true,
  targets: true,
  timeCompare: true,
  timeFrom: true,
  timeShift: true,
  title: true,
  transformations: true,
  transparent: true,
  type: true,
});

const ROW = keysOf<RowPanel>({
  collapsed: true,
  datasource: true,
  gridPos: true,
  id: true,
  panels: true,
  repeat: true,
  title: true,
  type: true,
});

const FIELD_CONFIG = keysOf<FieldConfigSource>({ defaults: true, overrides: true });

const FIELD_DEFAULTS = keysOf<FieldConfig>({
  actions: true,
  color: true,
  custom: true,
  decimals: true,
  description: true,
  displayName: true,
  displayNameFromDS: true,
  filterable: true,
  links: true,
  mappings: true,
  max: true,
  min: true,
  noValue: true,
  path: true,
  thresholds: true,
  unit: true,
  writeable: true,
});

const GRID_POS = keysOf<GridPos>({ h: true, static: true, w: true, x: true, y: true });

/** Panel targets are untyped records in the schema: these are its DataQuery plus Prometheus' fields. */
const TARGET = keysOf<PromQuery>({
  datasource: true,
  editorMode: true,
  expr: true,
  hide: true,
  instant: true,
  key: true,
  legendFormat: true,
  queryType: true,
  range: true,
  refId: true,
});

const VARIABLE = keysOf<VariableModel>({
  allValue: true,
  allowCustomValue: true,
  current: true,
  datasource: true,
  description: true,
  enableGroupBy: true,
  hide: true,
  includeAll: true,
  label: true,
  multi: true,
  name: true,
  options: true,
  query: true,
  refresh: true,
  regex: true,
  regexApplyTo: true,
  skipUrlSync: true,
  sort: true,
  staticOptions: true,
  staticOptionsOrder: true,
  type: true,
  valuesFormat: true,
});

/** The schema's AnnotationQuery and the three fields the Prometheus datasource reads beside it. */
const ANNOTATION = keysOf<PromAnnotation>({
  builtIn: true,
  datasource: true,
  enable: true,
  filter: true,
  hide: true,
  iconColor: true,
  name: true,
  placement: true,
  snapshotData: true,
  tagKeys: true,
  target: true,
  textFormat: true,
  titleFormat: true,
  type: true,
});

/** The template tokens an expression may hold; a test substitutes each to evaluate them. */
export const ALLOWED_TOKENS = ['$node', '$__rate_interval', '$__interval', '$__range'] as const;
export type Token = (typeof ALLOWED_TOKENS)[number];

// $name, ${name...} and the old [[name]].
const TOKEN = /\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]/g;

const GRID_WIDTH = 24;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const items = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const int = (v: unknown): v is number => Number.isInteger(v);

interface Located {
  where: string;
  value: Json;
}

/** Panels with where they are, rows' own panels included. */
function panelsOf(dashboard: Json): Located[] {
  const out: Located[] = [];
  items(dashboard.panels).forEach((p, i) => {
    if (!isObject(p)) return;
    const where = `panels[${i}]`;
    out.push({ where, value: p });
    items(p.panels).forEach((child, j) => {
      if (isObject(child)) out.push({ where: `${where}.panels[${j}]`, value: child });
    });
  });
  return out;
}

/** Every PromQL expression of a dashboard: its panels' targets and its annotations' queries. */
export function expressions(dashboard: unknown): Array<{ where: string; expr: string }> {
  if (!isObject(dashboard)) return [];
  const out: Array<{ where: string; expr: string }> = [];
  for (const { where, value } of panelsOf(dashboard)) {
    items(value.targets).forEach((t, i) => {
      if (isObject(t) && typeof t.expr === 'string')
        out.push({ where: `${where}.targets[${i}]`, expr: t.expr });
    });
  }
  items(isObject(dashboard.annotations) ? dashboard.annotations.list : []).forEach((a, i) => {
    if (isObject(a) && isObject(a.target) && typeof a.target.expr === 'string') {
      out.push({ where: `annotations.list[${i}].target`, expr: a.target.expr });
    }
  });
  return out;
}

/** Replaces the allowed tokens (longest first: `$__rate_interval` is not `$__range`). */
export function fillTokens(expr: string, values: Record<Token, string>): string {
  return [...ALLOWED_TOKENS]
    .sort((a, b) => b.length - a.length)
    .reduce((e, token) => e.replaceAll(token, values[token]), expr);
}

/** The problems found, one line each; none for a good dashboard. */
export function lint(dashboard: unknown): string[] {
  if (!isObject(dashboard)) return ['the dashboard is not a JSON object'];
  const problems: string[] = [];
  const keys = (where: string, value: unknown, allowed: ReadonlySet<string>, schemaType: string): void => {
    if (!isObject(value)) {
      problems.push(`${where}: not an object`);
      return;
    }
    for (const key of Object.keys(value)) {
      if (!allowed.has(key)) problems.push(`${where}.${key}: not a field of ${schemaType}`);
    }
  };
  const named = (where: string, value: Json): void => {
    if (JSON.stringify(value.datasource) !== JSON.stringify(datasource)) {
      problems.push(`${where}: datasource must be ${JSON.stringify(datasource)}`);
    }
  };
  const tokens = (where: string, text: unknown): void => {
    for (const token of typeof text === 'string' ? (text.match(TOKEN) ?? []) : []) {
      if (!(ALLOWED_TOKENS as readonly string[]).includes(token)) {
        problems.push(`${where}: template token ${token} (allowed: ${ALLOWED_TOKENS.join(' ')})`);
      }
    }
  };

  keys('dashboard', dashboard, DASHBOARD, 'Dashboard');

  const ids = new Map<unknown, string>();
  const placed: Array<{ where: string; pos: GridPos }> = [];
  const topLevel = new Set(items(dashboard.panels));
  for (const { where, value: panel } of panelsOf(dashboard)) {
    const isRow = panel.type === 'row';
    keys(where, panel, isRow ? ROW : PANEL, isRow ? 'RowPanel' : 'Panel');

    if (typeof panel.id !== 'number') problems.push(`${where}: no numeric id`);
    else if (ids.has(panel.id)) problems.push(`${where}: id ${panel.id} is also ${ids.get(panel.id)}'s`);
    else ids.set(panel.id, where);

    const pos = panel.gridPos;
    keys(`${where}.gridPos`, pos, GRID_POS, 'GridPos');
    if (isObject(pos)) {
      const { x, y, w, h } = pos;
      if (!(int(x) && int(y) && int(w) && int(h))) {
        problems.push(`${where}.gridPos: x, y, w and h must be integers`);
      } else {
        if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > GRID_WIDTH) {
          problems.push(`${where}.gridPos: off the ${GRID_WIDTH}-column grid`);
        }
        // A collapsed row's panels are laid out only when it opens; the rest share the grid.
        if (topLevel.has(panel)) placed.push({ where, pos: { x, y, w, h } });
      }
    }

    if (isRow) continue;
    named(where, panel);
    if (typeof panel.description !== 'string' || panel.description === '') {
      problems.push(`${where}: no description (help text)`);
    }
    if (panel.fieldConfig !== undefined) {
      keys(`${where}.fieldConfig`, panel.fieldConfig, FIELD_CONFIG, 'FieldConfigSource');
      if (isObject(panel.fieldConfig)) {
        keys(`${where}.fieldConfig.defaults`, panel.fieldConfig.defaults, FIELD_DEFAULTS, 'FieldConfig');
      }
    }
    const targets = items(panel.targets);
    if (targets.length === 0) problems.push(`${where}: no targets`);
    targets.forEach((target, i) => {
      const at = `${where}.targets[${i}]`;
      keys(at, target, TARGET, 'a Prometheus query');
      if (!isObject(target)) return;
      named(at, target);
      tokens(at, target.expr);
    });
  }

  placed.forEach((a, i) => {
    for (const b of placed.slice(i + 1)) {
      const apart =
        a.pos.x + a.pos.w <= b.pos.x ||
        b.pos.x + b.pos.w <= a.pos.x ||
        a.pos.y + a.pos.h <= b.pos.y ||
        b.pos.y + b.pos.h <= a.pos.y;
      if (!apart) problems.push(`${a.where} and ${b.where}: gridPos overlap`);
    }
  });

  const templating = isObject(dashboard.templating) ? dashboard.templating.list : undefined;
  items(templating).forEach((variable, i) => {
    const where = `templating.list[${i}]`;
    keys(where, variable, VARIABLE, 'VariableModel');
    if (!isObject(variable) || variable.type !== 'query') return;
    named(where, variable);
    tokens(where, isObject(variable.query) ? variable.query.query : variable.query);
  });

  const annotations = isObject(dashboard.annotations) ? dashboard.annotations.list : undefined;
  items(annotations).forEach((annotation, i) => {
    const where = `annotations.list[${i}]`;
    keys(where, annotation, ANNOTATION, 'AnnotationQuery');
    if (!isObject(annotation)) return;
    named(where, annotation);
    keys(`${where}.target`, annotation.target, TARGET, 'a Prometheus query');
    if (!isObject(annotation.target)) return;
    named(`${where}.target`, annotation.target);
    tokens(`${where}.target`, annotation.target.expr);
  });

  return problems;
}
