/** Writes grafana/dashboards/*.json from the sources: `npx tsx grafana/src/write.ts`. */

import { mkdirSync, writeFileSync } from 'node:fs';
import { dashboards, render } from './dashboards.ts';

const dir = new URL('../dashboards/', import.meta.url);
mkdirSync(dir, { recursive: true });
for (const [file, dashboard] of Object.entries(dashboards)) {
  writeFileSync(new URL(file, dir), render(dashboard));
  process.stdout.write(`wrote grafana/dashboards/${file}\n`);
}
