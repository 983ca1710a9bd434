/**
 * The release handler, as OTP's: unpack (verify, then store), install (an upgrade or a
 * downgrade, one at a time), make permanent (what a restarted node boots), list, remove.
 * Its history is on disk and survives restarts. Unlike OTP's, a failed install leaves the
 * node running the release it had, with every process alive.
 */
import type { KeyObject } from 'node:crypto';
import { hotlineError } from '../errors/catalogue.ts';
import type { AnyBehaviour, Runtime } from '../runtime/index.ts';
import { type Artifact, verifyArtifact } from './artifact.ts';
import { clashes, type Declared, declarationOf, type NodeReleases, runsOf } from './compat.ts';
import {
  Install,
  type InstallHooks,
  type InstallImage,
  type InstallOptions,
  type InstallProgress,
  type ProcessFailure,
} from './installer.ts';
import { evaluateArtifact, loadingManifest } from './loader.ts';
import type { ReleaseModule } from './module.ts';
import type { InstallPlan } from './plan.ts';
import { checkArtifactInWorker } from './sandbox.ts';
import { type HistoryWriteFailed, ReleaseStore } from './store.ts';
import { checkVersion } from './version.ts';

export interface ReleaseHandlerOptions<R extends ReleaseModule> {
  rt: Runtime;
  dataDir: string;
  /** The release built into the node: always available, never stored. */
  baseline: R;
  trustedKeys: KeyObject[];
  hooks?: InstallHooks & { outcome?(p: InstallProgress): void };
  /** What the node asks of a release beyond the behaviour contract: why it is refused, or undefined. */
  check?(r: R): string | undefined;
  /** A release was loaded to run here (booted, or about to be preflighted or installed). */
  loaded?(r: R): void;
  /** The releases the other nodes run (a cluster): an install must interoperate with each. */
  others?: () => (NodeReleases & { node: string })[];
  /** What this node declares it runs (`declared`) has changed: an install began or ended, old processes ended. */
  declaredChanged?(declared: NodeReleases): void;
  /** Where a failed write of the history is logged (default: stderr). */
  historyWriteFailed?: HistoryWriteFailed;
  /** The release on probation (see `probation`) changed: told at once, before its code runs. */
  probationChanged?(version: string | null): void;
}

/** What an install may be told beyond its options. */
export interface InstallRequest extends Partial<InstallOptions> {
  /** Install a marked release anyway. */
  force?: boolean;
}

export interface UnpackedRelease {
  version: string;
  apiVersion: number;
  builtAt: string;
  sha256: string;
  keyId: string;
  upgradeFrom: string[];
  downgradeTo: string[];
}

/** A stored release that no longer verifies, and why. */
export interface UnreadableRelease {
  version: string;
  error: string;
}

export interface ReleaseList {
  current: string;
  permanent: string;
  /** Versions other than the current one that processes still run. */
  old: string[];
  unpacked: UnpackedRelease[];
  unreadable: UnreadableRelease[];
  baseline: string;
  install: InstallProgress | null;
  /** Releases refused unless forced, and why. */
  marked: Record<string, { at: string; reason: string }>;
}

/** What a preflight alone found: nothing was changed either way. */
export interface PreflightReport {
  version: string;
  from: string;
  direction: 'up' | 'down';
  /** Processes the install would move. */
  total: number;
  /** Processes whose dry-run codeChange failed (exact), and the first of them. */
  failed: number;
  failures: ProcessFailure[];
  ms: number;
}

/**
 * What a node process's releases are, as data, for a successor process that takes its
 * processes over (a handoff): it loads the same releases from the same store.
 */
export interface ReleasesImage {
  readonly current: string;
  /** Every release whose code processes may run: the current one, an install's two, old ones still running. */
  readonly releases: readonly string[];
  /** The version each module's new processes start on (an install past its point of no return changed some). */
  readonly modules: readonly { module: string; version: string }[];
  /** The install that waits (held), if any: the successor goes on with it. */
  readonly install: { from: string; to: string; image: InstallImage } | null;
}

let installs = 0;

export class ReleaseHandler<R extends ReleaseModule = ReleaseModule> {
  readonly store: ReleaseStore;
  readonly #o: ReleaseHandlerOptions<R>;
  #current: R;
  #install: Install | null = null;
  #last: InstallProgress | null = null;
  readonly #described = new Map<string, UnpackedRelease | UnreadableRelease>();
  /** The declaration of every release this handler loaded: what `declared` names them by. */
  readonly #declarations = new Map<string, Declared>();
  #declared: Required<NodeReleases>;
  /** The sha256 of each code this handler has seen load in a worker (sandbox.ts): it may run here. */
  readonly #checked = new Set<string>();
  /** Releases whose code processes may run here, by version (booted, installed, or an install's old one). */
  readonly #running = new Map<string, R>();
  /** Why releases cannot change now (see hold). */
  #heldFor: string | null = null;

  constructor(o: ReleaseHandlerOptions<R>) {
    this.#o = o;
    this.store = new ReleaseStore(o.dataDir, o.historyWriteFailed);
    this.#current = o.baseline;
    this.#declared = { ...this.#declaration(o.baseline), alsoRuns: [] };
    // A process on an old release ending (outside an install): it may have been that release's last.
    const modules = new Set(o.baseline.behaviours.map((b) => b.name));
    o.rt.release.on('exit', (e) => {
      const { alsoRuns } = this.#declared;
      if (alsoRuns.length === 0 || this.#install !== null || !modules.has(e.module)) return;
      if (alsoRuns.some((d) => d.release === e.version)) this.#redeclare();
    });
  }

  /**
   * The release to start the node on: the permanent one (a restarted node boots it), or
   * `version` when given (a plain deploy: stop the node, start it on the new release) unless
   * that one is marked: a node restarted with the same flags after its watchdog ended it
   * must not boot into the same loop.
   */
  async boot(version?: string): Promise<R> {
    const chosen = version !== undefined && this.marked(version) === undefined ? version : this.permanent;
    await this.#checkStored(chosen);
    this.#current = this.load(chosen);
    this.#running.set(this.#current.version, this.#current);
    this.#o.loaded?.(this.#current);
    // Not waited for: nothing answers a boot, and a failed write is reported by the store.
    if (this.store.history.current !== this.#current.version)
      void this.store.record(
        { current: this.#current.version },
        { type: 'installed', version: this.#current.version, reason: 'boot' },
      );
    this.#redeclare();
    this.#probationMayHaveChanged();
    return this.#current;
  }

  /**
   * The release on probation, if any: the one an install is bringing in, or a current release
   * that is not (yet) the permanent one. A restart would leave it for the permanent release.
   */
  get probation(): string | null {
    const install = this.#install?.progress;
    if (install !== undefined) return install.to;
    return this.#current.version === this.permanent ? null : this.#current.version;
  }

  #toldProbation: string | null | undefined = undefined;
  #probationMayHaveChanged(): void {
    const now = this.probation;
    if (now === this.#toldProbation) return;
    this.#toldProbation = now;
    this.#o.probationChanged?.(now);
  }

  /** Why `version` is marked (refused unless forced), if it is. */
  marked(version: string): string | undefined {
    const marks = this.store.history.marked;
    return marks !== undefined && Object.hasOwn(marks, version) ? marks[version]?.reason : undefined;
  }

  /** Refuse `version` from now on unless forced; resolves once that is on disk. */
  async mark(version: string, reason: string): Promise<void> {
    checkVersion(version);
    const marked = { ...this.store.history.marked, [version]: { at: new Date().toISOString(), reason } };
    await this.store.record({ marked }, { type: 'marked', version, reason });
  }

  /** Whether release `version` has behaviour `name` at `moduleVersion` (without running stored code). */
  hasModule(version: string, name: string, moduleVersion: string): boolean {
    const loaded = [this.#o.baseline, this.#current].find((r) => r.version === version);
    if (loaded !== undefined)
      return loaded.behaviours.some((b) => b.name === name && b.version === moduleVersion);
    const manifest = loadingManifest(this.#verify(this.store.read(version)));
    // The first artifact format has every behaviour at the release's version.
    if (typeof manifest === 'string') return moduleVersion === manifest;
    return Object.hasOwn(manifest.modules, name) && manifest.modules[name] === moduleVersion;
  }

  get current(): R {
    return this.#current;
  }

  /**
   * Every release this node runs, each with the releases it talks to (see compat.ts): the
   * current one, and while an install runs or old processes remain, the others. Read for every
   * message between nodes, so kept ready: recomputed when an install begins or ends and when a
   * process on an old release ends, and the same object until it changes.
   */
  get declared(): Required<NodeReleases> {
    return this.#declared;
  }

  #declaration(r: ReleaseModule): Declared {
    let d = this.#declarations.get(r.version);
    if (d === undefined) {
      d = declarationOf(r);
      this.#declarations.set(r.version, d);
    }
    return d;
  }

  #redeclare(): void {
    const current = this.#declaration(this.#current);
    const others = new Set(this.#oldVersions());
    const install = this.#install?.progress;
    if (install !== undefined) for (const v of [install.from, install.to]) others.add(v);
    others.delete(current.release);
    const alsoRuns = [...others].sort().map((v) => this.#declarations.get(v) ?? { release: v, talksTo: [v] });
    const was = this.#declared;
    const same = (x: readonly Declared[], y: readonly Declared[]) =>
      x.length === y.length && x.every((d, i) => d === y[i]);
    if (was.release === current.release && same(was.alsoRuns, alsoRuns)) return;
    this.#declared = { ...current, alsoRuns };
    this.#o.declaredChanged?.(this.#declared);
  }

  /**
   * Versions other than the current release's that processes of its modules still run (a
   * module the release has at an older version, one it did not change, is not old).
   */
  #oldVersions(): Set<string> {
    const old = new Set<string>();
    const current = new Map(this.#current.behaviours.map((b) => [b.name, b.version]));
    for (const v of this.#o.rt.release.versions()) {
      const now = current.get(v.module);
      if (now !== undefined && v.version !== now && v.processes > 0) old.add(v.version);
    }
    return old;
  }

  /** The release a restarted node boots. */
  get permanent(): string {
    return this.store.history.permanent ?? this.#o.baseline.version;
  }

  #verify(text: string | Buffer | unknown) {
    return verifyArtifact(text, this.#o.trustedKeys);
  }

  /**
   * Verify (schema, version name, sha256, signature), prove it loads, then store it.
   * Resolves once the history records it on disk.
   */
  async unpack(artifactText: string | Buffer | unknown): Promise<Artifact['manifest']> {
    const artifact = this.#verify(artifactText);
    const version = artifact.manifest.version;
    // A release whose top-level code throws, exits, loops or fills memory, or that breaks the
    // contract, is refused by the check in a worker; the node evaluates only what passed it.
    await this.#check(artifact);
    this.#accepted(evaluateArtifact<R>(artifact));
    this.store.save(artifact);
    this.#described.delete(version);
    this.#declarations.delete(version);
    await this.store.record({}, { type: 'unpacked', version });
    return artifact.manifest;
  }

  /** Load `artifact`'s code in a worker first (once per code: the same bytes behave the same). */
  async #check(artifact: Artifact): Promise<void> {
    if (this.#checked.has(artifact.manifest.sha256)) return;
    await checkArtifactInWorker(artifact);
    this.#checked.add(artifact.manifest.sha256);
  }

  /** A stored release's code, checked in a worker before `load` evaluates it here. */
  async #checkStored(version: string): Promise<void> {
    checkVersion(version);
    if (version === this.#o.baseline.version || version === this.#current.version) return;
    await this.#check(this.#verify(this.store.read(version)));
  }

  /** A release's code, loaded fresh: collected again once no process runs it. Stored code must have been checked. */
  load(version: string): R {
    checkVersion(version);
    const r =
      version === this.#o.baseline.version
        ? this.#o.baseline
        : version === this.#current.version
          ? this.#current
          : this.#accepted(this.#evaluate(version));
    return r;
  }

  #accepted(r: R): R {
    const problem = this.#o.check?.(r);
    if (problem !== undefined) throw hotlineError('HOT_ERR_RELEASE_LOAD_FAILED', r.version, problem);
    return r;
  }

  #evaluate(version: string): R {
    const artifact = this.#verify(this.store.read(version));
    if (!this.#checked.has(artifact.manifest.sha256))
      throw new Error(`release ${version} would run in the node before its check in a worker`);
    return evaluateArtifact<R>(artifact);
  }

  /** Another copy of a loaded release for the preflight's dry runs (see Install). */
  #copy(r: R): R {
    return r === this.#o.baseline ? r : this.#evaluate(r.version);
  }

  get running(): InstallProgress | null {
    return this.#install?.progress ?? null;
  }

  /** The running install, or the last one. */
  get progress(): InstallProgress | null {
    return this.#install?.progress ?? this.#last;
  }

  /** An install of `version` from the current release, not started yet. */
  #prepare(
    version: string,
    options: Partial<InstallOptions>,
    hooks: InstallHooks | undefined,
  ): { install: Install; from: R; to: R } {
    if (this.#install !== null) throw hotlineError('HOT_ERR_INSTALL_RUNNING', this.#install.progress.id);
    if (version === this.#current.version)
      throw hotlineError('HOT_ERR_BAD_REQUEST', `release ${version} is already current`);
    const from = this.#current;
    const to = this.load(version);
    this.#checkOthers(to);
    this.#o.loaded?.(to);
    const id = `install-${Date.now().toString(36)}-${++installs}`;
    const dryRun = { from: this.#copy(from), to: this.#copy(to) };
    return { install: new Install(this.#o.rt, id, from, to, options, hooks, dryRun), from, to };
  }

  /**
   * Refused before anything runs: sessions here would exchange messages with ones the release
   * does not declare. Against every release each other node runs, the one it is installing too.
   */
  #checkOthers(to: R): void {
    const declared = [this.#declaration(to)];
    const refused = (this.#o.others?.() ?? []).flatMap((o) =>
      clashes(declared, runsOf(o)).map(([, theirs]) => `${theirs.release} on ${o.node}`),
    );
    if (refused.length > 0)
      throw hotlineError('HOT_ERR_RELEASE_INCOMPATIBLE', to.version, refused.join(', '));
  }

  /**
   * The install's preflight alone (the same code path: load, contract, dry-run codeChange on
   * every live process in slices), changing nothing and recording nothing in the history.
   */
  async preflight(version: string): Promise<PreflightReport> {
    return (await this.dryRun(version, {})).preflight;
  }

  /**
   * An install run dry: its plan, and its preflight. Nothing changes and nothing is recorded
   * in the history.
   */
  async dryRun(
    version: string,
    options: Partial<InstallOptions>,
  ): Promise<{ plan: InstallPlan; preflight: PreflightReport }> {
    const t0 = performance.now();
    await this.#checkStored(version);
    // No hooks: a dry run is not an install, and the install metrics stay about installs.
    const { install } = this.#prepare(version, options, {});
    const { total, failed } = await install.dryRun();
    const { from, to, direction, failures } = install.progress;
    return {
      plan: install.plan,
      preflight: { version: to, from, direction, total, failed, failures, ms: performance.now() - t0 },
    };
  }

  /** Start an install once its code passed the check in a worker: preflight and commit run on; watch `progress` or `done`. */
  async install(version: string, { force, ...options }: InstallRequest = {}): Promise<Install> {
    this.#notHeld();
    const why = this.marked(version);
    if (why !== undefined && force !== true) throw hotlineError('HOT_ERR_RELEASE_MARKED', version, why);
    await this.#checkStored(version);
    const { install, from, to } = this.#prepare(version, options, this.#o.hooks);
    this.#track(install, from, to);
    void install.start();
    return install;
  }

  /** `install` is this node's from now on: when it ends, the handler records and declares its outcome. */
  #track(install: Install, from: R, to: R): void {
    this.#install = install;
    this.#running.set(from.version, from);
    this.#running.set(to.version, to);
    // Declared from the preflight on, before any process moves: another node's install is checked against it.
    this.#redeclare();
    this.#probationMayHaveChanged();
    void install.done.then((p) => {
      this.#install = null;
      this.#last = p;
      if (p.outcome === 'installed') this.#current = to;
      // Nobody waits for an outcome's record (the install's request was answered long ago):
      // a failed write is reported by the store.
      void this.store.record(p.outcome === 'installed' ? { current: to.version } : {}, {
        type: p.outcome ?? 'aborted',
        version: to.version,
        from: from.version,
        ...(p.reason ? { reason: p.reason } : {}),
      });
      this.#forgetUnused();
      this.#redeclare();
      this.#probationMayHaveChanged();
      this.#o.hooks?.outcome?.(p);
    });
  }

  /** Releases no process runs any more (but the current one and an install's) are not kept: their code can be collected. */
  #forgetUnused(): void {
    for (const version of this.#running.keys()) if (!this.#inUseHere(version)) this.#running.delete(version);
  }

  #inUseHere(version: string): boolean {
    const install = this.#install?.progress;
    if (version === this.#current.version || version === install?.from || version === install?.to)
      return true;
    const r = this.#running.get(version);
    return r?.behaviours.some((b) => this.#o.rt.release.count(b) > 0) ?? false;
  }

  #notHeld(): void {
    if (this.#heldFor !== null) throw hotlineError('HOT_ERR_RELEASES_HELD', this.#heldFor);
  }

  /**
   * Keep the releases as they are while `why` (a handoff moves the processes to a successor):
   * installs, promotes, rollbacks, permanent and remove are refused, and an install that waits
   * (a canary, or its watch window) stays there: its window's end and a rollback its watch asks
   * for wait until the returned function lets go. Refused while an install moves processes.
   */
  hold(why: string): () => void {
    this.#notHeld();
    this.#install?.hold();
    this.#heldFor = why;
    return () => {
      this.#heldFor = null;
      this.#install?.unhold();
    };
  }

  /** The releases as data, for a successor that takes the processes over (see `takeOverCode`, `takeOver`). */
  handOver(): ReleasesImage {
    const install = this.#install;
    const progress = install?.progress;
    return {
      current: this.#current.version,
      releases: [...this.#running.keys()].filter((v) => this.#inUseHere(v)),
      modules: this.#o.rt.release
        .versions()
        .filter((v) => v.current)
        .map(({ module, version }) => ({ module, version })),
      install:
        install === null || progress === undefined
          ? null
          : { from: progress.from, to: progress.to, image: install.image() },
    };
  }

  /**
   * In the successor, once booted on `image.current`: load the other releases the old node
   * process runs (from the same store: a shipped release never changes) and start new
   * processes of each of their modules on the version it did.
   */
  async takeOverCode(image: ReleasesImage): Promise<void> {
    for (const version of image.releases) {
      if (this.#running.has(version)) continue;
      await this.#checkStored(version);
      const r = this.load(version);
      this.#o.loaded?.(r);
      this.#running.set(version, r);
    }
    // The node's own modules (not in any release) are the node's to load.
    this.#o.rt.release.load(
      image.modules.flatMap(({ module, version }) => this.findCode(module, version, image) ?? []),
    );
  }

  /**
   * A module's version in the releases loaded here, for a process that arrives with its code
   * named (a handoff): the waiting install's new release first, then its old one, the current
   * one and the rest, so that it runs the very objects the install moves by.
   */
  findCode(
    module: string,
    version: string,
    image?: Pick<ReleasesImage, 'install'>,
  ): AnyBehaviour | undefined {
    const install = image?.install ?? this.#install?.progress;
    const first = install === null || install === undefined ? [] : [install.to, install.from];
    const order = [...first, this.#current.version, ...this.#running.keys()];
    for (const v of order) {
      const b = this.#running.get(v)?.behaviours.find((x) => x.name === module && x.version === version);
      if (b !== undefined) return b;
    }
    return undefined;
  }

  /** In the successor, with the last of the processes: the install that waited goes on here. */
  takeOver(image: ReleasesImage): void {
    const handed = image.install;
    if (handed === null) return;
    const from = this.#running.get(handed.from);
    const to = this.#running.get(handed.to);
    if (from === undefined || to === undefined)
      throw hotlineError('HOT_ERR_UNKNOWN_RELEASE', from === undefined ? handed.from : handed.to);
    const install = Install.resumed(this.#o.rt, from, to, handed.image, this.#o.hooks);
    this.#track(install, from, to);
  }

  #runningInstall(what: string): Install {
    if (this.#install === null) throw hotlineError('HOT_ERR_NO_INSTALL', what);
    return this.#install;
  }

  promote(): Promise<void> {
    this.#notHeld();
    return this.#runningInstall('promote').promote();
  }

  rollback(): Promise<void> {
    this.#notHeld();
    return this.#runningInstall('roll back').rollback();
  }

  /** A release this node can load: the baseline or a stored one. */
  #known(version: string): boolean {
    return version === this.#o.baseline.version || this.store.has(version);
  }

  /** What a restarted node boots; resolves once that is on disk. */
  async makePermanent(version: string): Promise<void> {
    checkVersion(version);
    this.#notHeld();
    if (version !== this.#current.version) {
      if (!this.#known(version)) throw hotlineError('HOT_ERR_UNKNOWN_RELEASE', version);
      throw hotlineError(
        'HOT_ERR_BAD_REQUEST',
        `only the current release (${this.#current.version}) can be made permanent`,
      );
    }
    const written = this.store.record({ permanent: version }, { type: 'permanent', version });
    this.#probationMayHaveChanged();
    await written;
  }

  /** Why `version` cannot be removed, if it cannot. */
  #inUse(version: string): string | undefined {
    if (version === this.#current.version) return 'it is current';
    if (version === this.store.history.permanent) return 'it is permanent';
    if (version === this.#o.baseline.version) return 'it is built into the node';
    if (this.#o.rt.release.versions().some((v) => v.version === version && v.processes > 0))
      return 'processes still run it';
    const install = this.#install?.progress;
    if (install !== undefined && [install.from, install.to].includes(version)) return 'an install uses it';
    return undefined;
  }

  /** Delete a stored release nothing uses; resolves once the history records it on disk. */
  async remove(version: string): Promise<void> {
    checkVersion(version);
    this.#notHeld();
    const why = this.#inUse(version);
    if (why !== undefined) throw hotlineError('HOT_ERR_RELEASE_IN_USE', version, why);
    if (!this.store.has(version)) throw hotlineError('HOT_ERR_UNKNOWN_RELEASE', version);
    this.store.remove(version);
    this.#described.delete(version);
    await this.store.record({}, { type: 'removed', version });
  }

  /**
   * A stored release as it verified, checked once per version: list() is read every second
   * by the observer. One that no longer verifies (a damaged file, a key no longer trusted)
   * is reported, not thrown: it must not take the listing of the others down with it.
   */
  #describe(version: string): UnpackedRelease | UnreadableRelease {
    let described = this.#described.get(version);
    if (described === undefined) {
      try {
        const { manifest, keyId } = this.#verify(this.store.read(version));
        described = {
          version,
          apiVersion: manifest.apiVersion,
          builtAt: manifest.builtAt,
          sha256: manifest.sha256,
          keyId,
          upgradeFrom: manifest.upgradeFrom.map((e) => e.version),
          downgradeTo: manifest.downgradeTo.map((e) => e.version),
        };
      } catch (err) {
        described = { version, error: err instanceof Error ? err.message : String(err) };
      }
      this.#described.set(version, described);
    }
    return described;
  }

  list(): ReleaseList {
    const current = this.#current.version;
    const old = this.#oldVersions();
    const unpacked: UnpackedRelease[] = [];
    const unreadable: UnreadableRelease[] = [];
    for (const version of this.store.versions()) {
      const described = this.#describe(version);
      if ('error' in described) unreadable.push(described);
      else unpacked.push(described);
    }
    return {
      current,
      permanent: this.permanent,
      old: [...old],
      unpacked,
      unreadable,
      baseline: this.#o.baseline.version,
      install: this.progress,
      marked: { ...this.store.history.marked },
    };
  }
}
