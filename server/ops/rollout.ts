/**
 * A rolling upgrade of a cluster, driven from outside it through each node's admin API:
 *
 *   1. discover  the nodes, from any node's GET /admin/cluster
 *   2. unpack    the release on every node (uploading the artifact where it is missing)
 *   3. preflight on every node (POST /admin/releases/:version/preflight): one failure and
 *                the rollout stops with no node changed
 *   4. install   node by node: mark its figures, install (full, with the watch window),
 *                wait for the outcome, gate on its figures since the mark; a failure rolls
 *                back this node and those before it, in reverse order
 *   5. permanent on every node, only once all are through: a node restarted during the
 *                rollout boots the release it had
 *
 * Every step is recorded in the state file before the next begins; a rerun resumes from
 * it, checking each node's actual release first, so steps are idempotent. OTP gives each
 * node its release handler and a barrier with no timeout (release_handler, sync_nodes);
 * the orchestration, the gates and the rollback are this module's. Generic: it knows
 * releases and metrics, never calls.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NodeInfo } from '../cluster/wire.ts';
import { errorText, hotlineError } from '../errors/catalogue.ts';
import type { PreflightReport, ReleaseList } from '../release/handler.ts';
import type { InstallPhase, InstallProgress, ProcessFailure } from '../release/installer.ts';
import { checkVersion } from '../release/version.ts';
import { AdminClient, AdminRequestError } from './admin-client.ts';
import {
  type GateThresholds,
  type GateVerdict,
  judge,
  type NodeFigures,
  readFigures,
} from './health-gate.ts';
import {
  type NodeRecord,
  type NodeStatus,
  type RolloutOutcome,
  type RolloutState,
  readState,
  writeState,
} from './rollout-state.ts';

export interface RolloutOptions {
  version: string;
  /** Any node's admin surface: the others are found through it. */
  adminUrl: string;
  /** The cluster's admin token (every node shares it). */
  token: string;
  /** Each node's watch window after its commit. */
  watchMs: number;
  gate: GateThresholds;
  /** A signed artifact of `version`, uploaded to nodes that lack it. */
  artifactPath?: string;
  /** Where progress is recorded; without it a killed rollout cannot be resumed. */
  stateFile?: string;
  /** Roll back the unfinished rollout recorded in stateFile instead of resuming it. */
  rollback?: boolean;
  onEvent?(event: RolloutEvent): void;
  pollMs?: number;
}

export type RolloutEvent =
  | { type: 'discovered'; id: string; version: string; nodes: { node: string; release: string }[] }
  | { type: 'resumed'; id: string; version: string; nodes: { node: string; status: NodeStatus }[] }
  | { type: 'unpacked'; node: string; uploaded: boolean }
  | { type: 'preflighted'; node: string; total: number }
  | { type: 'preflight_failed'; node: string; failed: number; failures: ProcessFailure[]; error: string }
  | { type: 'installing'; node: string; from: string; to: string }
  | { type: 'install_phase'; node: string; to: string; phase: InstallPhase; moved: number; total: number }
  | { type: 'gate_passed'; node: string; verdict: GateVerdict }
  | { type: 'gate_failed'; node: string; reason: string; verdict: GateVerdict | null }
  | { type: 'rolling_back'; node: string; to: string }
  | { type: 'rolled_back'; node: string; release: string }
  | { type: 'rollback_failed'; node: string; error: string }
  | { type: 'permanent'; node: string; release: string }
  | { type: 'done'; outcome: RolloutOutcome; reason: string | null };

export interface PreflightFailure {
  node: string;
  /** Sessions whose dry-run codeChange failed (0 when the node failed otherwise). */
  failed: number;
  failures: ProcessFailure[];
  error: string;
}

export interface RolloutReport {
  id: string;
  version: string;
  outcome: RolloutOutcome;
  reason: string | null;
  nodes: { node: string; from: string; status: NodeStatus; verdict?: GateVerdict }[];
  preflightFailures: PreflightFailure[];
}

export interface ClusterNode {
  node: string;
  release: string;
  adminUrl: string;
  httpUrl: string;
}

/** How long past its watch window an install may take to report its outcome. */
const SETTLE_MARGIN_MS = 120_000;

/** The cluster's live nodes, by name, as one node sees them. */
export async function discover(adminUrl: string, token: string): Promise<ClusterNode[]> {
  type Described = NodeInfo & { node: string };
  const body = await new AdminClient(adminUrl, token).get<{
    node: string;
    cluster: { self: Described; nodes: Described[] } | null;
  }>('/admin/cluster');
  if (body.cluster === null)
    throw hotlineError('HOT_ERR_BAD_REQUEST', `${adminUrl} (node ${body.node}) is not in a cluster`);
  const all = [{ ...body.cluster.self, adminUrl }, ...body.cluster.nodes];
  return all
    .map((n): ClusterNode => {
      // A node that has not yet beaten with its URLs cannot be addressed: try again in a moment.
      if (n.adminUrl === undefined || n.httpUrl === undefined)
        throw hotlineError('HOT_ERR_ROLLOUT_STATE', `node ${n.node} has not announced where it listens yet`);
      return { node: n.node, release: n.release, adminUrl: n.adminUrl, httpUrl: n.httpUrl };
    })
    .sort((a, b) => a.node.localeCompare(b.node));
}

export function rollOut(options: RolloutOptions): Promise<RolloutReport> {
  return new Rollout(options).run();
}

class Rollout {
  readonly #o: RolloutOptions;
  #state!: RolloutState;
  readonly #preflightFailures: PreflightFailure[] = [];

  constructor(o: RolloutOptions) {
    this.#o = o;
  }

  #emit(event: RolloutEvent): void {
    this.#o.onEvent?.(event);
  }

  #save(): void {
    if (this.#o.stateFile !== undefined) writeState(this.#o.stateFile, this.#state);
  }

  #admin(n: NodeRecord): AdminClient {
    return new AdminClient(n.adminUrl, this.#o.token);
  }

  async run(): Promise<RolloutReport> {
    const { version, stateFile } = this.#o;
    checkVersion(version);
    const recorded = stateFile === undefined ? null : readState(stateFile);
    const unfinished = recorded !== null && recorded.outcome === null ? recorded : null;
    if (unfinished === null && this.#o.rollback === true)
      throw hotlineError(
        'HOT_ERR_ROLLOUT_STATE',
        `no unfinished rollout recorded in ${stateFile} to roll back`,
      );
    if (unfinished !== null && unfinished.version !== version)
      throw hotlineError(
        'HOT_ERR_ROLLOUT_STATE',
        `${stateFile} records an unfinished rollout of ${unfinished.version}: finish it or roll it back first`,
      );
    const live = await discover(this.#o.adminUrl, this.#o.token);
    if (unfinished !== null) return this.#resume(unfinished, live);

    this.#state = {
      format: 'hotline-rollout/1',
      id: `rollout-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`,
      version,
      startedAt: new Date().toISOString(),
      updatedAt: '',
      phase: 'preflight',
      outcome: null,
      reason: null,
      nodes: live.map((n) => ({
        node: n.node,
        adminUrl: n.adminUrl,
        httpUrl: n.httpUrl,
        from: n.release,
        // A node already on the release has nothing to do, and nothing to roll back.
        status: n.release === version ? 'installed' : 'pending',
      })),
    };
    this.#save();
    const { id } = this.#state;
    this.#emit({
      type: 'discovered',
      id,
      version,
      nodes: live.map(({ node, release }) => ({ node, release })),
    });
    if (!(await this.#prepare())) return this.#report();
    return this.#installAll();
  }

  /** A rerun: the nodes' addresses may have changed (a restart), their names may not. */
  async #resume(state: RolloutState, live: ClusterNode[]): Promise<RolloutReport> {
    this.#state = state;
    for (const n of state.nodes) {
      const now = live.find((l) => l.node === n.node);
      if (now === undefined)
        throw hotlineError(
          'HOT_ERR_ROLLOUT_STATE',
          `node ${n.node} of rollout ${state.id} is not in the cluster`,
        );
      n.adminUrl = now.adminUrl;
      n.httpUrl = now.httpUrl;
    }
    this.#save();
    const nodes = state.nodes.map(({ node, status }) => ({ node, status }));
    this.#emit({ type: 'resumed', id: state.id, version: state.version, nodes });
    if (this.#o.rollback === true || state.phase === 'rolling_back')
      return this.#rollBack(state.reason ?? 'rolled back by request');
    // Killed before any install: nothing changed, so the preflight runs again.
    if (state.phase === 'preflight' && !(await this.#prepare())) return this.#report();
    return this.#installAll();
  }

  /** Steps 2 and 3 on every node still to do. False: a node failed, nothing was changed. */
  async #prepare(): Promise<boolean> {
    const todo = this.#state.nodes.filter((n) => n.status !== 'installed');
    await Promise.all(todo.map((n) => this.#prepareOne(n)));
    if (this.#preflightFailures.length > 0) {
      const names = this.#preflightFailures.map((f) => f.node).join(', ');
      this.#end(
        'preflight_failed',
        hotlineError('HOT_ERR_ROLLOUT_PREFLIGHT_FAILED', this.#state.version, names),
      );
      return false;
    }
    for (const n of todo) n.status = 'preflighted';
    this.#state.phase = 'installing';
    this.#save();
    return true;
  }

  async #prepareOne(n: NodeRecord): Promise<void> {
    const admin = this.#admin(n);
    const { version } = this.#state;
    try {
      const list = await admin.get<ReleaseList>('/admin/releases');
      const unpacked = list.unpacked.some((u) => u.version === version);
      if (!unpacked) {
        if (this.#o.artifactPath === undefined)
          throw hotlineError('HOT_ERR_UNKNOWN_RELEASE', `${version} (and no artifact to upload)`);
        await admin.post('/admin/releases', JSON.parse(readFileSync(this.#o.artifactPath, 'utf8')));
      }
      this.#emit({ type: 'unpacked', node: n.node, uploaded: !unpacked });
      const { preflight } = await admin.post<{ preflight: PreflightReport }>(
        `/admin/releases/${encodeURIComponent(version)}/preflight`,
      );
      this.#emit({ type: 'preflighted', node: n.node, total: preflight.total });
    } catch (err) {
      const report =
        err instanceof AdminRequestError ? (err.body as { preflight?: PreflightReport }) : undefined;
      const failure: PreflightFailure = {
        node: n.node,
        failed: report?.preflight?.failed ?? 0,
        failures: report?.preflight?.failures ?? [],
        error: errorText(err),
      };
      this.#preflightFailures.push(failure);
      this.#emit({ type: 'preflight_failed', ...failure });
    }
  }

  /** Step 4, node by node, then step 5. */
  async #installAll(): Promise<RolloutReport> {
    this.#state.phase = 'installing';
    this.#save();
    for (const n of this.#state.nodes) {
      let why: string | null;
      try {
        why = await this.#installOne(n);
      } catch (err) {
        why = errorText(err);
      }
      if (why !== null) {
        if (n.verdict === undefined || n.verdict.ok)
          this.#emit({ type: 'gate_failed', node: n.node, reason: why, verdict: null });
        return this.#rollBack(hotlineError('HOT_ERR_ROLLOUT_GATE_FAILED', n.node, why).message);
      }
    }
    this.#state.phase = 'permanent';
    this.#save();
    for (const n of this.#state.nodes) {
      if (n.status === 'permanent') continue;
      await this.#admin(n).post(`/admin/releases/${encodeURIComponent(this.#state.version)}/permanent`);
      n.status = 'permanent';
      this.#save();
      this.#emit({ type: 'permanent', node: n.node, release: this.#state.version });
    }
    this.#end('upgraded', null);
    return this.#report();
  }

  /** One node through install and gate; null when it passed, else why not. */
  async #installOne(n: NodeRecord): Promise<string | null> {
    const { version } = this.#state;
    const { watchMs } = this.#o;
    const admin = this.#admin(n);
    let list = await admin.get<ReleaseList>('/admin/releases');
    // An install an earlier run started (it was killed meanwhile): let it end first.
    if (list.install !== null && list.install.outcome === null) {
      await this.#settle(n, list.install.id);
      list = await admin.get<ReleaseList>('/admin/releases');
    }
    if (list.current === version) {
      if (n.status === 'installed' || n.status === 'permanent') return null;
      // Installed by an earlier run that did not live to gate it: gate it now, on its figures
      // since the recorded mark (the watch window is behind it).
      return this.#gate(n, n.mark ?? (await readFigures(n.httpUrl)));
    }
    if (list.current !== n.from) return `it runs ${list.current}, neither ${n.from} nor ${version}`;
    const last = list.install;
    if (n.status === 'installing' && last?.to === version && last.outcome === 'rolled_back')
      return `its install was rolled back: ${last.reason}`;
    // From here on also a node that restarted mid-rollout: it booted its permanent release, `from`.
    n.mark = await readFigures(n.httpUrl);
    n.status = 'installing';
    this.#save();
    this.#emit({ type: 'installing', node: n.node, from: n.from, to: version });
    // The node's own watch holds the release to the gate's crash and error thresholds: over
    // them, it rolls back at once, with every session's state, before the gate has to.
    const { maxCrashes, maxErrors } = this.#o.gate;
    const started = await admin.post<{ install: InstallProgress }>(
      `/admin/releases/${encodeURIComponent(version)}/install`,
      // maxErrors only when set: a node of the previous build refuses fields it does not know.
      { mode: 'full', watchMs, maxCrashes, ...(maxErrors > 0 ? { maxErrors } : {}) },
    );
    const p = await this.#settle(n, started.install.id);
    if (p.outcome !== 'installed') return `its install ended ${p.outcome}: ${p.reason}`;
    return this.#gate(n, n.mark);
  }

  async #gate(n: NodeRecord, mark: NodeFigures): Promise<string | null> {
    const verdict = judge(mark, await readFigures(n.httpUrl), this.#o.gate);
    n.verdict = verdict;
    if (!verdict.ok) {
      this.#save();
      const reason = verdict.failures.join('; ');
      this.#emit({ type: 'gate_failed', node: n.node, reason, verdict });
      return reason;
    }
    n.status = 'installed';
    this.#save();
    this.#emit({ type: 'gate_passed', node: n.node, verdict });
    return null;
  }

  /** Poll the node's install until it has an outcome, telling each phase as it comes. */
  async #settle(n: NodeRecord, id: string): Promise<InstallProgress> {
    const admin = this.#admin(n);
    const deadline = Date.now() + this.#o.watchMs + SETTLE_MARGIN_MS;
    let phase: InstallPhase | null = null;
    for (;;) {
      const { install: p } = await admin.get<{ install: InstallProgress }>('/admin/install');
      if (p.id !== id) throw new Error(`${n.node}: install ${id} is gone (did the node restart?)`);
      if (p.phase !== phase) {
        phase = p.phase;
        this.#emit({ type: 'install_phase', node: n.node, to: p.to, phase, moved: p.moved, total: p.total });
      }
      if (p.outcome !== null) return p;
      if (Date.now() > deadline)
        throw new Error(`${n.node}: install ${id} has no outcome after its watch window`);
      await new Promise((resolve) => setTimeout(resolve, this.#o.pollMs ?? 100));
    }
  }

  /** Every node that moved goes back to its `from` release, the last moved first. */
  async #rollBack(reason: string): Promise<RolloutReport> {
    this.#state.phase = 'rolling_back';
    this.#state.reason = reason;
    this.#save();
    const failed: string[] = [];
    for (const n of [...this.#state.nodes].reverse()) {
      if (n.from === this.#state.version) continue;
      try {
        if (await this.#rollBackOne(n)) {
          n.status = 'rolled_back';
          this.#save();
          this.#emit({ type: 'rolled_back', node: n.node, release: n.from });
        }
      } catch (err) {
        failed.push(`${n.node}: ${errorText(err)}`);
        this.#emit({ type: 'rollback_failed', node: n.node, error: errorText(err) });
      }
    }
    if (failed.length > 0)
      this.#end('failed', new Error(`${reason}; rollback failed on ${failed.join('; ')}`));
    else this.#end('rolled_back', new Error(reason));
    return this.#report();
  }

  /** True when the node had moved (and is back now). */
  async #rollBackOne(n: NodeRecord): Promise<boolean> {
    const { version } = this.#state;
    const admin = this.#admin(n);
    let list = await admin.get<ReleaseList>('/admin/releases');
    if (list.install !== null && list.install.outcome === null) {
      // Still in its watch: the node's own rollback moves the sessions back.
      if (list.install.to === version) await admin.post('/admin/install/rollback').catch(() => undefined);
      await this.#settle(n, list.install.id);
      list = await admin.get<ReleaseList>('/admin/releases');
    }
    let moved = n.status === 'installing' || n.status === 'installed' || n.status === 'permanent';
    if (list.current === version) {
      // Installed and through its watch: a downgrade, which the release handler runs like any
      // install. No watch window: the release it returns to ran here before.
      moved = true;
      this.#emit({ type: 'rolling_back', node: n.node, to: n.from });
      const started = await admin.post<{ install: InstallProgress }>(
        `/admin/releases/${encodeURIComponent(n.from)}/install`,
        { mode: 'full', watchMs: 0 },
      );
      const p = await this.#settle(n, started.install.id);
      if (p.outcome !== 'installed')
        throw new Error(`the downgrade to ${n.from} ended ${p.outcome}: ${p.reason}`);
      list = await admin.get<ReleaseList>('/admin/releases');
    }
    if (list.current !== n.from) throw new Error(`it runs ${list.current}, not ${n.from}`);
    if (list.permanent !== n.from)
      await admin.post(`/admin/releases/${encodeURIComponent(n.from)}/permanent`);
    return moved;
  }

  #end(outcome: RolloutOutcome, err: Error | null): void {
    this.#state.outcome = outcome;
    this.#state.phase = 'done';
    if (err !== null) this.#state.reason = err.message;
    this.#save();
    this.#emit({ type: 'done', outcome, reason: this.#state.reason });
  }

  #report(): RolloutReport {
    const { id, version, outcome, reason, nodes } = this.#state;
    return {
      id,
      version,
      outcome: outcome ?? 'failed',
      reason,
      nodes: nodes.map(({ node, from, status, verdict }) => ({
        node,
        from,
        status,
        ...(verdict === undefined ? {} : { verdict }),
      })),
      preflightFailures: this.#preflightFailures,
    };
  }
}
