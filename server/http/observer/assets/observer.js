/**
 * The observer page: draws what GET /admin/observer/events pushes and sends the release
 * actions to the admin API. No build step: a plain module, with uPlot loaded before it.
 * Every text from the node goes into the DOM as text (textContent, text nodes), never as HTML.
 *
 * @typedef {import('../../observer-feed.ts').ObserverSnapshot} Snapshot
 * @typedef {import('../../../release/installer.ts').InstallProgress} InstallProgress
 * @typedef {import('../../observer-feed.ts').HandoffProgress} HandoffProgress
 */

/** In order of first sight; the load test's report draws releases in the same colors. */
import RELEASE_COLORS from './release-colors.json' with { type: 'json' };

/** Sent with every change, as the admin surface requires of a cookie session (see auth.ts). */
const ACTION_HEADERS = { 'content-type': 'application/json', 'x-hotline-observer': '1' };
/** Seconds of history the charts keep. */
const WINDOW = 300;
const FINAL = new Set(['installed', 'aborted', 'rolled_back']);

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** An element with properties and children; strings become text nodes. */
function h(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const count = (n) => integer.format(n);
/** One decimal below ten, where it still says something. */
const decimal = (n) => (n < 10 ? oneDecimal.format(n) : integer.format(n));
const ms = (n) => `${decimal(n)} ms`;
const megabytes = (bytes) => `${integer.format(bytes / 1048576)} MB`;
function duration(seconds) {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** One color per release, in order of first sight, the same in tiles, charts and the install. */
const releaseColors = new Map();
function colorOf(version) {
  if (!releaseColors.has(version))
    releaseColors.set(version, RELEASE_COLORS[releaseColors.size % RELEASE_COLORS.length]);
  return releaseColors.get(version);
}

function releaseChip(version, n) {
  const chip = h(
    'li',
    { className: 'chip' },
    h('i', { className: 'swatch' }),
    `${version} `,
    h('b', {}, count(n)),
  );
  chip.dataset.release = version;
  /** @type {HTMLElement} */ (chip.firstChild).style.background = colorOf(version);
  return chip;
}

// ---- charts ----------------------------------------------------------------------------

const CHART_HEIGHT = 150;
/** Never less than a minute across: the first seconds do not fill the chart with sub-second ticks. */
const MIN_SPAN = 60;
const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const axis = { stroke: '#6b7280', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e5e7eb' } };

function chartOptions(el, series) {
  return {
    width: el.clientWidth,
    height: CHART_HEIGHT,
    legend: { live: false },
    cursor: { show: false },
    scales: {
      x: { time: true, range: (_u, min, max) => [Math.min(min, max - MIN_SPAN), max] },
      y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
    },
    axes: [
      { ...axis, space: 70, values: (_u, ticks) => ticks.map((t) => clock.format(t * 1000)) },
      { ...axis, size: 52 },
    ],
    series: [{}, ...series.map((s) => ({ ...s, width: 2, points: { show: false } }))],
  };
}

/** A line chart over the last WINDOW seconds whose series can change (new releases). */
class LiveChart {
  constructor(el) {
    this.el = el;
    this.t = [];
    /** @type {Map<string, {color: string, values: number[]}>} */
    this.lines = new Map();
    this.plot = null;
    new ResizeObserver(() => this.plot?.setSize({ width: el.clientWidth, height: CHART_HEIGHT })).observe(el);
  }

  push(at, values) {
    this.t.push(at / 1000);
    // Absent is none: a release nobody runs any more.
    for (const [name, line] of this.lines) line.values.push(values[name] ?? 0);
    for (const [name, v] of Object.entries(values))
      if (!this.lines.has(name)) {
        this.lines.set(name, {
          color: this.color(name),
          values: [...new Array(this.t.length - 1).fill(0), v],
        });
        this.plot?.destroy();
        this.plot = null;
      }
    if (this.t.length > WINDOW) {
      this.t.shift();
      for (const line of this.lines.values()) line.values.shift();
    }
    const data = [this.t, ...[...this.lines.values()].map((l) => l.values)];
    if (this.plot === null) {
      const series = [...this.lines].map(([label, l]) => ({ label, stroke: l.color }));
      this.plot = new window.uPlot(chartOptions(this.el, series), data, this.el);
    } else this.plot.setData(data);
  }

  color(name) {
    return colorOf(name);
  }
}

class RatesChart extends LiveChart {
  color(name) {
    return { 'in /s': '#3b6fb6', 'out /s': '#3f9b5a', 'errors /s': '#c2410c' }[name] ?? '#6b7280';
  }
}

const ratesChart = new RatesChart($('chart-rates'));
const sessionsChart = new LiveChart($('chart-sessions'));

// ---- the snapshot -------------------------------------------------------------------------

/** @type {InstallProgress | null} */
let install = null;
let snapshots = 0;

/** @param {Snapshot} s */
function drawSnapshot(s) {
  document.title = `${s.node} · Hotline observer`;
  $('node-name').textContent = s.node;
  const health = $('health');
  health.textContent = s.ready ? 'ready' : 'not ready';
  health.className = `pill ${s.ready ? 'ok' : 'bad'}`;
  $('open-registration').hidden = !s.openRegistration;
  $('uptime').textContent = duration(s.uptimeSeconds);
  $('release-current').textContent = s.releases.current;
  $('release-permanent').textContent = s.releases.permanent;
  $('processes').textContent = count(s.processes);

  const byRelease = Object.entries(s.sessions).sort(([a], [b]) => a.localeCompare(b));
  $('sessions-total').textContent = count(byRelease.reduce((sum, [, n]) => sum + n, 0));
  $('sessions-by-release').replaceChildren(...byRelease.map(([v, n]) => releaseChip(v, n)));

  const calls = Object.entries(s.calls).filter(([, n]) => n > 0);
  $('calls-total').textContent = count(calls.reduce((sum, [, n]) => sum + n, 0));
  $('calls-detail').textContent = calls.map(([state, n]) => `${state} ${count(n)}`).join(' · ');

  const r = s.rates;
  $('rate-in').textContent = r === null ? '–' : decimal(r.received);
  $('rate-out').textContent = r === null ? '–' : decimal(r.sent);
  $('rate-errors').textContent = r === null ? '–' : decimal(r.protocolErrors);
  $('tile-errors').classList.toggle('alert', r !== null && r.protocolErrors > 0);

  $('memory-rss').textContent = megabytes(s.memory.rss);
  $('memory-heap').textContent = `heap ${megabytes(s.memory.heapUsed)} of ${megabytes(s.memory.heapTotal)}`;
  const lag = s.eventLoopLag;
  $('lag-p99').textContent = lag === null ? '–' : decimal(lag.p99);
  $('lag-detail').textContent = lag === null ? '' : `p50 ${decimal(lag.p50)} · max ${ms(lag.max)}`;
  $('tile-lag').classList.toggle('alert', lag !== null && lag.p99 > 50);

  if (r !== null)
    ratesChart.push(s.at, { 'in /s': r.received, 'out /s': r.sent, 'errors /s': r.protocolErrors });
  sessionsChart.push(s.at, s.sessions);

  drawTree(s.tree);
  drawMailboxes(s.mailboxes);
  drawReleaseChoices(s);
}

function workerChips(workers) {
  return h(
    'ul',
    { className: 'chips workers' },
    ...Object.entries(workers)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, n]) => h('li', { className: 'chip' }, `${key} `, h('b', {}, count(n)))),
  );
}

function treeItems(supervised) {
  return supervised.supervisors.map((sup) =>
    h(
      'li',
      { className: 'branch' },
      h(
        'div',
        { className: 'sup' },
        h('strong', {}, sup.name ?? sup.module),
        h('span', { className: 'muted' }, ` ${sup.name === undefined ? '' : `${sup.module} `}${sup.pid}`),
      ),
      Object.keys(sup.workers).length > 0 ? workerChips(sup.workers) : null,
      sup.supervisors.length > 0 ? h('ul', {}, ...treeItems(sup)) : null,
    ),
  );
}

function drawTree(tree) {
  $('tree').replaceChildren(
    h('ul', {}, ...treeItems(tree)),
    ...(Object.keys(tree.workers).length > 0
      ? [h('div', { className: 'sup muted' }, 'without a supervisor'), workerChips(tree.workers)]
      : []),
  );
}

function drawMailboxes(list) {
  $('mailboxes').replaceChildren(
    ...list.map((p) =>
      h(
        'tr',
        {},
        h('td', {}, p.name ?? p.pid),
        h('td', {}, `${p.module}@${p.version}`),
        h('td', {}, p.status),
        h('td', { className: 'num' }, count(p.mailbox)),
      ),
    ),
  );
  $('mailboxes-empty').hidden = list.length > 0;
}

// ---- the install --------------------------------------------------------------------------

/** @param {InstallProgress | null} p */
function drawInstall(p) {
  const phase = $('install-phase');
  phase.textContent = p === null ? 'none' : p.phase.replace('_', ' ');
  phase.dataset.phase = p?.phase ?? 'none';
  const running = p !== null && !FINAL.has(p.phase);
  $('install').classList.toggle('running', running);
  if (p === null) {
    $('install-route').textContent = 'No install since the node started.';
    for (const id of ['install-progress', 'install-note', 'install-outcome']) $(id).textContent = '';
    for (const id of ['install-versions', 'install-phases', 'install-failures']) $(id).replaceChildren();
    $('install-bar').hidden = true;
    drawActionState();
    return;
  }
  $('install-route').textContent =
    `${p.from} → ${p.to} · ${p.mode} · ${p.direction === 'up' ? 'upgrade' : 'downgrade'}` +
    ` · step ${p.steps.indexOf(p.step) + 1}/${p.steps.length} ${p.step.replaceAll('_', ' ')}`;
  $('install-bar').hidden = false;
  const share = p.total === 0 ? (FINAL.has(p.phase) ? 1 : 0) : p.moved / p.total;
  /** @type {HTMLElement} */ ($('install-bar-fill')).style.width = `${(share * 100).toFixed(1)}%`;
  $('install-bar').dataset.phase = p.phase;
  $('install-progress').textContent =
    `${count(p.moved)} of ${count(p.total)} processes moved (${Math.round(share * 100)}%)` +
    (p.crashes > 0 ? ` · ${count(p.crashes)} crash${p.crashes === 1 ? '' : 'es'} on the new code` : '') +
    (p.errors > 0 ? ` · ${count(p.errors)} error${p.errors === 1 ? '' : 's'} reported on it` : '');
  $('install-versions').replaceChildren(
    ...Object.entries(p.processes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([v, n]) => releaseChip(v, n)),
  );
  $('install-note').textContent =
    p.phase === 'canary'
      ? `Canary: ${count(p.moved)} of ${count(p.total)} run ${p.to}. Promote moves the rest; roll back moves them back.`
      : p.phase === 'watch'
        ? `Watching ${p.to}: crashes or errors on it over the thresholds roll every process back.`
        : '';
  const took = p.endedAt === null ? null : ((p.endedAt - p.startedAt) / 1000).toFixed(1);
  const outcome = $('install-outcome');
  outcome.textContent =
    p.outcome === null
      ? ''
      : `${p.outcome.replace('_', ' ')} after ${took} s${p.reason === null ? '' : `: ${p.reason}`}`;
  outcome.dataset.outcome = p.outcome ?? '';
  $('install-phases').replaceChildren(
    ...p.phases.map((ph) =>
      h(
        'li',
        {},
        ph.phase.replace('_', ' '),
        ' ',
        h('span', { className: 'took' }, ph.ms === null ? '…' : ms(ph.ms)),
      ),
    ),
  );
  const shown = p.failures.slice(0, 5);
  $('install-failures').replaceChildren(
    ...shown.map((f) => h('li', {}, h('code', {}, f.pid), ` ${f.module}: ${f.error}`)),
    ...(p.failures.length > shown.length
      ? [h('li', {}, `and ${count(p.failures.length - shown.length)} more`)]
      : []),
  );
  drawActionState();
}

// ---- the node handoff ---------------------------------------------------------------------

/**
 * The old process draws the handoff as it goes; when it has handed everything over it ends
 * the stream, and the page reconnects to the successor (it listens by then, and knows the
 * sign-in), which draws the same handoff, done, with its own pid.
 * @param {HandoffProgress | null} p
 */
function drawHandoff(p) {
  const phase = $('handoff-phase');
  phase.textContent = p === null ? 'none' : p.phase;
  phase.dataset.phase = p?.phase ?? 'none';
  $('handoff').classList.toggle('running', p !== null && p.endedAt === null);
  $('handoff-bar').hidden = p === null;
  /** @type {HTMLElement} */ ($('handoff-facts')).hidden = p === null;
  if (p === null) {
    $('handoff-route').textContent = 'No handoff since this process started.';
    for (const id of ['handoff-progress', 'handoff-outcome']) $(id).textContent = '';
    return;
  }
  $('handoff-route').textContent = `pid ${p.from} → ${p.to === 0 ? '…' : p.to}`;
  const { planned, done } = p.batches;
  const share = p.phase === 'done' ? 1 : planned === 0 ? 0 : done / planned;
  /** @type {HTMLElement} */ ($('handoff-bar-fill')).style.width = `${(share * 100).toFixed(1)}%`;
  $('handoff-bar').dataset.phase = p.phase;
  $('handoff-progress').textContent =
    planned === 0 ? 'batches not planned yet' : `${count(done)} of ${count(planned)} batches moved`;
  $('handoff-processes').textContent = count(p.processes);
  $('handoff-sockets').textContent = count(p.sockets);
  $('handoff-pause').textContent = ms(p.maxPauseMs);
  const outcome = $('handoff-outcome');
  const took = p.endedAt === null ? null : ((p.endedAt - p.startedAt) / 1000).toFixed(1);
  outcome.textContent =
    p.phase === 'done'
      ? `handed off after ${took} s`
      : p.phase === 'failed'
        ? `failed after ${took} s, the node carried on${p.error === null ? '' : `: ${p.error}`}`
        : '';
  outcome.dataset.outcome = p.phase;
}

// ---- actions ------------------------------------------------------------------------------

const form = /** @type {HTMLFormElement} */ ($('install-form'));
const select = /** @type {HTMLSelectElement} */ ($('release-select'));
let choices = '';

/** @param {Snapshot} s */
function drawReleaseChoices(s) {
  const versions = [s.releases.baseline, ...s.releases.unpacked.map((u) => u.version)].filter(
    (v, i, all) => v !== s.releases.current && all.indexOf(v) === i,
  );
  const key = versions.join();
  if (key === choices) return;
  choices = key;
  const kept = select.value;
  select.replaceChildren(...versions.map((v) => h('option', { value: v, textContent: v })));
  if (versions.includes(kept)) select.value = kept;
  drawActionState();
}

function drawActionState() {
  const running = install !== null && !FINAL.has(install.phase);
  /** @type {HTMLButtonElement} */ ($('install-button')).disabled = running || select.options.length === 0;
  /** @type {HTMLButtonElement} */ ($('promote-button')).disabled = !running || install?.phase !== 'canary';
  /** @type {HTMLButtonElement} */ ($('rollback-button')).disabled =
    !running || install?.phase === 'rolling_back';
}

function tell(text, ok) {
  const result = $('action-result');
  result.textContent = text;
  result.className = `result ${ok ? 'ok' : 'bad'}`;
}

/** POST to the admin API; says what happened, with the API's code and message when refused. */
async function act(what, path, body) {
  try {
    const res = await fetch(path, {
      method: 'POST',
      headers: ACTION_HEADERS,
      body: JSON.stringify(body ?? {}),
    });
    if (res.ok) return tell(`${what}: accepted`, true);
    const error = await res.json().catch(() => ({}));
    tell(`${what} refused (${res.status}) ${error.code ?? ''}: ${error.message ?? res.statusText}`, false);
  } catch (err) {
    tell(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, false);
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const canary = data.get('mode') === 'canary';
  void act(`Install ${select.value}`, `/admin/releases/${encodeURIComponent(select.value)}/install`, {
    mode: canary ? 'canary' : 'full',
    ...(canary ? { canaryFraction: Number(data.get('percent')) / 100 } : {}),
    watchMs: Number(data.get('watch')) * 1000,
  });
});
$('promote-button').addEventListener('click', () => void act('Promote', '/admin/install/promote'));
$('rollback-button').addEventListener('click', () => void act('Roll back', '/admin/install/rollback'));

// ---- who is signed in, and the audit trail ------------------------------------------------

/** A read-only sign-in sees no actions (the node would refuse them anyway). */
async function drawSignedIn() {
  const res = await fetch('/admin/whoami');
  if (!res.ok) return;
  const me = await res.json();
  $('signed-in').textContent = `${me.name} · ${me.scope}`;
  /** @type {HTMLElement} */ (document.querySelector('section.actions')).hidden = me.scope !== 'operate';
  document.documentElement.dataset.scope = me.scope;
}

/** The newest admin changes, refreshed as installs move and every few seconds. */
async function drawAudit() {
  const res = await fetch('/admin/audit?limit=15');
  if (!res.ok) return;
  const { entries } = await res.json();
  $('audit-list').replaceChildren(
    ...entries.map((/** @type {any} */ e) =>
      h(
        'li',
        { className: e.status < 400 ? 'ok' : 'bad' },
        `${e.time.slice(11, 19)} ${e.token ?? '(no token)'} ${e.method} ${e.route} `,
        h('span', { className: 'params', textContent: JSON.stringify(e.params) }),
        ` → ${e.status}${e.code ? ` ${e.code}` : ''}`,
      ),
    ),
  );
}
void drawSignedIn();
void drawAudit();
setInterval(() => void drawAudit(), 5000);

// ---- the stream ---------------------------------------------------------------------------

const live = $('live');
const events = new EventSource('/admin/observer/events');
events.addEventListener('snapshot', (e) => {
  /** @type {Snapshot} */
  const s = JSON.parse(e.data);
  install = s.install;
  drawSnapshot(s);
  drawInstall(install);
  drawHandoff(s.handoff);
  live.textContent = 'live';
  live.className = 'live ok';
  document.documentElement.dataset.snapshots = String(++snapshots);
});
events.addEventListener('install', (e) => {
  install = JSON.parse(e.data);
  drawInstall(install);
  void drawAudit();
});
events.addEventListener('handoff', (e) => drawHandoff(JSON.parse(e.data)));
events.addEventListener('error', () => {
  // EventSource retries by itself, unless the node refused it (a lapsed session: sign in again).
  const closed = events.readyState === EventSource.CLOSED;
  live.replaceChildren(
    closed ? h('a', { href: '/observer' }, 'disconnected: sign in again') : 'reconnecting…',
  );
  live.className = 'live bad';
});
