/**
 * The message types a behaviour accepts; used as `Behaviour<S, A, M>` and `Pid<M>`. Apart
 * from both so that the behaviour contract and pids do not import each other.
 */
export interface MessageMap {
  call: unknown;
  reply: unknown;
  cast: unknown;
  info: unknown;
}
