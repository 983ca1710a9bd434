/** The overview: every node (or the ones picked), for watching a hot install under traffic. */

import type { Dashboard } from '@grafana/schema';
import * as hotline from './hotline.ts';
import { stat } from './panels.ts';

const nodes = hotline.ALL_NODES;

export const overview: Dashboard = hotline.dashboard({
  uid: 'hotline-overview',
  title: 'Hotline overview',
  description:
    'Sessions, calls, failures, installs and runtime health across Hotline nodes. Start a load test, run a hot install, and watch the sessions switch release with nothing dropped.',
  nodes,
  sections: [
    {
      row: 'At a glance',
      panels: [
        ...hotline.headline(nodes),
        stat({
          title: 'Installs',
          description:
            'Hot installs over the time range by outcome: installed, aborted (in preflight) or rolled back.',
          unit: 'none',
          w: 4,
          instant: true,
          series: [
            {
              expr: `sum by (outcome) (increase(hotline_release_installs_total${hotline.on(nodes)}[$__range]))`,
              legend: '{{outcome}}',
            },
          ],
        }),
        hotline.abnormalEndsStat(nodes),
        stat({
          title: 'Session crashes',
          description: 'Session processes that ended with an error over the time range, all releases.',
          unit: 'none',
          w: 4,
          instant: true,
          redFrom: 1,
          series: [
            {
              expr: `sum(increase(hotline_session_crashes_total${hotline.on(nodes)}[$__range]))`,
              legend: 'crashes',
            },
          ],
        }),
      ],
    },
    {
      row: 'Sessions and calls',
      panels: [
        hotline.sessionsByRelease(nodes, 12),
        hotline.callsPerSecond(nodes, 12),
        hotline.callSetup(nodes),
        hotline.processingTime(nodes),
      ],
    },
    {
      row: 'Failures',
      panels: [
        hotline.abnormalEnds(nodes, 8),
        hotline.protocolErrors(nodes, 8),
        hotline.restartsAndCrashes(nodes, 8),
      ],
    },
    {
      row: 'Releases',
      panels: [hotline.installProgress(nodes, 12), hotline.phaseDurations(nodes, 12)],
    },
    {
      row: 'Node handoff',
      panels: hotline.handoffPanels(nodes),
    },
    {
      row: 'Runtime',
      panels: [
        hotline.mailboxes(nodes, 'node', 8),
        hotline.eventLoopLag(nodes, ['p99', 'max'], 8),
        hotline.memory(nodes, ['heap used', 'RSS'], 8),
      ],
    },
  ],
});
