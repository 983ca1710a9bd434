/** The runtime's public surface: what behaviours, the release handler and the front door use. */
export { application } from './application.ts';
export * from './behaviour.ts';
export { type Clock, SimulatedClock, systemClock } from './clock.ts';
export * from './distribution.ts';
export {
  type DynamicSupervisorArgs,
  type DynamicSupervisorMessages,
  dynamicSupervisor,
  startChild,
} from './dynamic-supervisor.ts';
export type { RuntimeEventMap } from './events.ts';
export * from './exit-reason.ts';
export * from './introspect.ts';
export type { ModuleVersionInfo } from './module-table.ts';
export type { CaptureResult, CodeFinder, MoveRoute } from './move.ts';
export type { MoveApi } from './move-api.ts';
export { formatPid, isPid, type Pid, pidNode } from './pid.ts';
export type { MailImage, ProcessImage, TimerImage } from './process-image.ts';
export type { ProcessView } from './process-view.ts';
export type { ProcessScan, ReleaseApi, SuspendedBatch, WatchedEvent } from './release-api.ts';
export {
  type CrashGuard,
  MESSAGES_PER_TURN,
  Runtime,
  type RuntimeOptions,
  type RuntimeSpawnOptions,
} from './runtime.ts';
export {
  type ChildInfo,
  type ChildSpec,
  type Strategy,
  type SupervisorArgs,
  type SupervisorMessages,
  supervisor,
  supervisorCall,
  whichChildren,
} from './supervisor.ts';
export { type ChangeCodeOptions, migrate } from './sys.ts';
