/** The dashboards Grafana loads, by file name under grafana/dashboards/, and how they are written. */

import type { Dashboard } from '@grafana/schema';
import { node } from './node.ts';
import { overview } from './overview.ts';

export const dashboards: Record<string, Dashboard> = {
  'overview.json': overview,
  'node.json': node,
};

/** Stable text: the committed files must equal it byte for byte (a test checks). */
export const render = (d: Dashboard): string => `${JSON.stringify(d, null, 2)}\n`;
