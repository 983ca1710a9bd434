/**
 * Builders for the dashboards' panels, queries, annotations and variables, typed with
 * @grafana/schema so that tsc checks every field they write. Nothing here knows Hotline's
 * metrics: hotline.ts does.
 */

import type {
  AnnotationQuery,
  DataQuery,
  DataSourceRef,
  FieldConfig,
  Panel,
  RowPanel,
  Threshold,
  VariableModel,
} from '@grafana/schema';
import {
  BigValueColorMode,
  BigValueGraphMode,
  BigValueJustifyMode,
  BigValueTextMode,
  FieldColorModeId,
  GraphDrawStyle,
  LegendDisplayMode,
  PercentChangeColorMode,
  SortOrder,
  StackingMode,
  ThresholdsMode,
  TooltipDisplayMode,
  VisibilityMode,
  VizOrientation,
} from '@grafana/schema';
import type { Options as StatOptions } from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type {
  FieldConfig as TimeSeriesFieldConfig,
  Options as TimeSeriesOptions,
} from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

/**
 * Every panel, query, annotation and query variable names this: the dashboard's `datasource`
 * variable, so the dashboards work with whichever Prometheus datasource a Grafana has.
 */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable reference, not a JS template.
export const datasource: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/** The Prometheus datasource's query model; @grafana/schema ships only the DataQuery it extends. */
export interface PromQuery extends DataQuery {
  expr: string;
  legendFormat?: string;
  range?: boolean;
  instant?: boolean;
  editorMode?: 'code' | 'builder';
}

/**
 * A Prometheus annotation: the datasource reads these three fields at the annotation's top
 * level (they are not in @grafana/schema's AnnotationQuery) to name each event from the
 * series' labels.
 */
export interface PromAnnotation extends AnnotationQuery<PromQuery> {
  tagKeys?: string;
  titleFormat?: string;
  textFormat?: string;
}

/** One line of a panel: a PromQL expression and its legend (`{{label}}` templates). */
export interface Series {
  expr: string;
  legend: string;
}

const GRID_WIDTH = 24;

function queries(series: Series[], instant = false): Array<Record<string, unknown>> {
  return series.map((s, i) => {
    const query: PromQuery = {
      datasource,
      refId: String.fromCharCode(65 + i),
      expr: s.expr,
      legendFormat: s.legend,
      range: !instant,
      instant,
      editorMode: 'code',
    };
    return { ...query };
  });
}

interface Common {
  title: string;
  /** Shown as the panel's help text. */
  description: string;
  /** A Grafana unit id: s, bytes, percentunit, ops, none... */
  unit: string;
  w: number;
  h?: number;
  series: Series[];
}

// Panel keeps options, custom field config and targets as plain records, which interfaces do
// not fit: each is built as its checked type, then copied in (a spread is a plain object).
function panel(
  type: string,
  spec: Common,
  height: number,
  defaults: FieldConfig,
  options: Record<string, unknown>,
  instant = false,
): Panel {
  return {
    type,
    title: spec.title,
    description: spec.description,
    datasource,
    gridPos: { h: spec.h ?? height, w: spec.w, x: 0, y: 0 },
    fieldConfig: { defaults: { unit: spec.unit, ...defaults }, overrides: [] },
    options,
    targets: queries(spec.series, instant),
  };
}

export interface TimeSeriesSpec extends Common {
  /** Stack the series (sessions by release: the switch reads as one band shrinking while another grows). */
  stack?: boolean;
  /** Draw points, for values that exist only around rare events. */
  points?: boolean;
  min?: number;
  max?: number;
}

export function timeseries(spec: TimeSeriesSpec): Panel {
  const options: TimeSeriesOptions = {
    legend: { calcs: [], displayMode: LegendDisplayMode.List, placement: 'bottom', showLegend: true },
    tooltip: { mode: TooltipDisplayMode.Multi, sort: SortOrder.Descending },
  };
  const custom: TimeSeriesFieldConfig = {
    drawStyle: spec.points ? GraphDrawStyle.Points : GraphDrawStyle.Line,
    lineWidth: 1,
    pointSize: spec.points ? 6 : 4,
    showPoints: spec.points ? VisibilityMode.Always : VisibilityMode.Never,
    fillOpacity: spec.stack ? 60 : 10,
    stacking: { mode: spec.stack ? StackingMode.Normal : StackingMode.None, group: 'A' },
  };
  const defaults: FieldConfig = { color: { mode: FieldColorModeId.PaletteClassic }, custom: { ...custom } };
  if (spec.min !== undefined) defaults.min = spec.min;
  if (spec.max !== undefined) defaults.max = spec.max;
  return panel('timeseries', spec, 8, defaults, { ...options });
}

export interface StatSpec extends Common {
  /** Turn red from this value on (drops, crashes); without it the value is not coloured. */
  redFrom?: number;
  /** Show the series' names (a release) rather than, or next to, their values. */
  text?: BigValueTextMode;
  /** A value over the whole range (`[$__range]`): one instant query, no sparkline. */
  instant?: boolean;
}

export function stat(spec: StatSpec): Panel {
  const options: StatOptions = {
    colorMode: spec.redFrom === undefined ? BigValueColorMode.None : BigValueColorMode.Value,
    graphMode: spec.instant ? BigValueGraphMode.None : BigValueGraphMode.Area,
    justifyMode: BigValueJustifyMode.Auto,
    orientation: VizOrientation.Auto,
    percentChangeColorMode: PercentChangeColorMode.Standard,
    reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
    showPercentChange: false,
    textMode: spec.text ?? BigValueTextMode.Auto,
    wideLayout: true,
  };
  // Explicit steps: Grafana's default thresholds would paint any value from 80 red.
  const steps: Threshold[] = [{ color: 'green', value: null }];
  if (spec.redFrom !== undefined) steps.push({ color: 'red', value: spec.redFrom });
  const defaults: FieldConfig = {
    color: { mode: FieldColorModeId.Thresholds },
    thresholds: { mode: ThresholdsMode.Absolute, steps },
  };
  // Counts over the range are whole; increase() extrapolates to fractions.
  if (spec.instant) defaults.decimals = 0;
  return panel('stat', spec, 4, defaults, { ...options }, spec.instant);
}

export interface Section {
  row: string;
  panels: Panel[];
}

/**
 * Lays each section out under its row, panels left to right on Grafana's 24-column grid,
 * wrapping when a line is full, and numbers every panel: positions and ids are computed,
 * so they cannot collide.
 */
export function layout(sections: Section[]): Array<Panel | RowPanel> {
  const out: Array<Panel | RowPanel> = [];
  let id = 1;
  let y = 0;
  for (const section of sections) {
    out.push({
      type: 'row',
      id: id++,
      title: section.row,
      collapsed: false,
      panels: [],
      gridPos: { h: 1, w: GRID_WIDTH, x: 0, y: y++ },
    });
    let x = 0;
    let lineHeight = 0;
    for (const panel of section.panels) {
      const { w, h } = panel.gridPos ?? { w: GRID_WIDTH, h: 8 };
      if (x + w > GRID_WIDTH) {
        y += lineHeight;
        x = 0;
        lineHeight = 0;
      }
      out.push({ id: id++, ...panel, gridPos: { h, w, x, y } });
      x += w;
      lineHeight = Math.max(lineHeight, h);
    }
    y += lineHeight;
  }
  return out;
}

export interface AnnotationSpec {
  name: string;
  iconColor: string;
  /** Each step where a series is above 0 marks the graphs; adjacent steps join into a region. */
  expr: string;
  /** Labels that become the event's tags, comma-separated. */
  tagKeys: string;
  titleFormat: string;
  textFormat: string;
}

export function annotation(spec: AnnotationSpec): PromAnnotation {
  return {
    name: spec.name,
    enable: true,
    iconColor: spec.iconColor,
    datasource,
    target: { datasource, refId: 'Anno', expr: spec.expr, editorMode: 'code' },
    tagKeys: spec.tagKeys,
    titleFormat: spec.titleFormat,
    textFormat: spec.textFormat,
  };
}

/** Picks the Prometheus datasource; Grafana starts on the default one (provisioning makes one). */
export const datasourceVariable: VariableModel = {
  name: 'datasource',
  label: 'Datasource',
  type: 'datasource',
  query: 'prometheus',
};
