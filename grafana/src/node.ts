/** One node in detail: its protocol traffic, processes, mailboxes by module, CPU and GC. */

import type { Dashboard, Panel } from '@grafana/schema';
import * as hotline from './hotline.ts';
import { stat, timeseries } from './panels.ts';

const nodes = hotline.ONE_NODE;

const frames = (direction: 'received' | 'sent'): Panel =>
  timeseries({
    title: `Frames ${direction} by type`,
    description: `WebSocket frames ${direction === 'received' ? 'received from' : 'sent to'} phones per second, by protocol message type (media, media_ack, invite...). Media dominates while calls are up.`,
    unit: 'ops',
    w: 8,
    series: [
      {
        expr: `sum by (type) (${hotline.rate(`hotline_frames_${direction}_total`, nodes)})`,
        legend: '{{type}}',
      },
    ],
  });

export const node: Dashboard = hotline.dashboard({
  uid: 'hotline-node',
  title: 'Hotline node',
  description:
    'One Hotline node in detail: calls, protocol frames, failures, installs, processes by module, mailboxes, event loop, memory, CPU and GC.',
  nodes,
  sections: [
    {
      row: 'At a glance',
      panels: [
        ...hotline.headline(nodes),
        hotline.releaseStat(nodes, 'permanent'),
        stat({
          title: 'Uptime',
          description:
            'Time since the node process started. A hot install does not restart it; a restart deploy does.',
          unit: 's',
          w: 4,
          series: [
            { expr: `time() - max(process_start_time_seconds${hotline.on(nodes)})`, legend: 'uptime' },
          ],
        }),
        hotline.abnormalEndsStat(nodes),
      ],
    },
    {
      row: 'Sessions and calls',
      panels: [
        hotline.sessionsByRelease(nodes, 8),
        timeseries({
          title: 'Calls by state',
          description: 'Open calls by state, stacked: being set up, ringing, up (answered) and held.',
          unit: 'none',
          w: 8,
          stack: true,
          series: [
            { expr: `sum by (state) (hotline_calls_active${hotline.on(nodes)})`, legend: '{{state}}' },
          ],
        }),
        hotline.callsPerSecond(nodes, 8),
        hotline.callSetup(nodes),
        hotline.processingTime(nodes),
      ],
    },
    {
      row: 'Protocol',
      panels: [frames('received'), frames('sent'), hotline.protocolErrors(nodes, 8)],
    },
    {
      row: 'Failures and releases',
      panels: [
        hotline.abnormalEnds(nodes, 12),
        hotline.restartsAndCrashes(nodes, 12),
        hotline.installProgress(nodes, 6),
        hotline.phaseDurations(nodes, 6),
        timeseries({
          title: 'Install outcomes and code-change failures',
          description:
            'Installs finishing per second by outcome (installed, aborted in preflight, rolled back), and processes whose codeChange failed in preflight or commit.',
          unit: 'ops',
          w: 6,
          series: [
            {
              expr: `sum by (outcome) (${hotline.rate('hotline_release_installs_total', nodes)})`,
              legend: '{{outcome}}',
            },
            {
              expr: `sum(${hotline.rate('hotline_release_code_change_failures_total', nodes)})`,
              legend: 'code-change failures',
            },
          ],
        }),
        timeseries({
          title: 'Cluster messages refused',
          description:
            'Messages from other nodes not delivered, per second: malformed (not a runtime message, heartbeat or directory entry), or from a node whose release does not interoperate with this one (neither declares the other). Anything above zero deserves a look in the log.',
          unit: 'ops',
          w: 6,
          series: [
            {
              expr: `sum by (reason) (${hotline.rate('hotline_cluster_messages_refused_total', nodes)})`,
              legend: '{{reason}}',
            },
          ],
        }),
      ],
    },
    {
      row: 'Node handoff',
      panels: hotline.handoffPanels(nodes),
    },
    {
      row: 'Runtime',
      panels: [
        timeseries({
          title: 'Processes by module',
          description:
            'Processes by behaviour module: sessions, ports, the echo, IVR and no-answer legs, supervisors, the application and the CDR journal.',
          unit: 'none',
          w: 12,
          series: [{ expr: `sum by (module) (hotline_processes${hotline.on(nodes)})`, legend: '{{module}}' }],
        }),
        hotline.mailboxes(nodes, 'module', 12),
        hotline.eventLoopLag(nodes, ['p50', 'p90', 'p99', 'max'], 8),
        hotline.memory(nodes, ['heap used', 'heap total', 'external', 'RSS'], 8),
        timeseries({
          title: 'CPU and GC',
          description:
            'Share of one core the node uses, and the share of wall time spent in garbage collection by kind (minor, major, incremental).',
          unit: 'percentunit',
          w: 8,
          series: [
            { expr: `sum(${hotline.rate('process_cpu_seconds_total', nodes)})`, legend: 'CPU' },
            {
              expr: `sum by (kind) (${hotline.rate('nodejs_gc_duration_seconds_sum', nodes)})`,
              legend: 'GC {{kind}}',
            },
          ],
        }),
      ],
    },
  ],
});
