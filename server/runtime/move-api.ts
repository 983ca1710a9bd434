/**
 * What a handoff may do to a runtime's processes (rt.move): capture and commit or abort on
 * the old side, restore and start (or discard) on the new one, and the peer route both use
 * while it runs. See move.ts for the steps and the README for the protocol around them.
 */
import type { DistMessage } from './distribution.ts';
import type { Kernel } from './kernel.ts';
import type { CaptureResult, CodeFinder, Move, MoveRoute } from './move.ts';
import type { Pid } from './pid.ts';
import type { ProcessImage } from './process-image.ts';

export class MoveApi {
  readonly #k: Kernel;
  readonly #move: Move;

  constructor(k: Kernel) {
    this.#k = k;
    this.#move = k.move;
  }

  /**
   * The processes `pid` is tied to (linked, monitored by it, monitoring it): what is best
   * moved with it, so that little of their traffic crosses between the runtimes. Empty when
   * `pid` is not in the table.
   */
  neighbours(pid: Pid): Pid[] {
    return this.#move.neighbours(pid);
  }

  /**
   * Images of suspended processes (`rt.sys.suspend` first), after each one's `handOver`.
   * The captured ones leave the table; whatever is sent to them is held, in order, until
   * `commit` or `abort`. A process that is not suspended, or whose handOver throws
   * (`HOT_ERR_HANDOVER_FAILED`, and it is resumed), is in `failed` and stays.
   */
  capture(pids: Iterable<Pid>): CaptureResult {
    return this.#move.capture(pids);
  }

  /** The captured `pids` now live behind `route`: held messages, then all later ones, go there. */
  commit(pids: Iterable<Pid>, route: MoveRoute): void {
    this.#move.commit(pids, route);
  }

  /** Take the captured `pids` back: held messages into their mailboxes, timers again, takeOver, resumed. */
  abort(pids: Iterable<Pid>): void {
    this.#move.abort(pids);
  }

  /**
   * Restore images under their pids, held until `start`. All or nothing: throws
   * `HOT_ERR_MOVE_CODE_MISSING`, `HOT_ERR_MOVE_PID_TAKEN` or `HOT_ERR_NAME_TAKEN` with
   * nothing restored. `findCode` finds a module's version (default: the module table's
   * current version or one that processes run).
   */
  restore(images: readonly ProcessImage[], findCode?: CodeFinder): void {
    this.#move.restore(images, findCode);
  }

  /** Run restored processes, once the old side has committed them (and sent what it held). */
  start(pids: Iterable<Pid>): void {
    this.#move.start(pids);
  }

  /** Drop restored processes that never started: the old side aborted. */
  discard(pids: Iterable<Pid>): void {
    this.#move.discard(pids);
  }

  /**
   * While a handoff runs, pids of this node not in the table are reached through `route`;
   * undefined ends that, and forgets the other side's names (`peerNames`).
   */
  peer(route: MoveRoute | undefined): void {
    this.#move.setPeer(route);
    if (route === undefined) this.#k.registry.elsewhere(undefined);
  }

  /** The registered names of the processes in this runtime (in the table or held by a move), for `peerNames` on the other side. */
  names(): [string, Pid][] {
    return this.#k.registry.names().filter(([, pid]) => this.#move.isHere(pid));
  }

  /**
   * The other runtime's `names()`: looked up after this runtime's own names until `peer(undefined)`,
   * so the processes that moved here reach by name those that have not moved yet (the CDR
   * journal, the sessions of users still there). Each call replaces the previous names; the
   * map is read at each lookup, so its owner may keep it up to date in place.
   */
  peerNames(names: ReadonlyMap<string, Pid>): void {
    this.#k.registry.elsewhere(names);
  }

  /** What the other runtime's route sent. */
  receive(m: DistMessage): void {
    this.#move.receive(m);
  }

  /** The ids this runtime issues next: a successor's `firstPid` and `firstRef` start far above them. */
  nextIds(): { pid: number; ref: number } {
    return this.#k.nextIds();
  }
}
