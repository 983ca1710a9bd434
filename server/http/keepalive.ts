/**
 * WebSocket keepalive: a phone is pinged every `intervalMs`, and one that has not answered
 * (pong) within `timeoutMs` is terminated. A phone whose network vanished without a FIN
 * would otherwise keep its session and its user name until TCP gives up, many minutes on.
 * The socket then closes as any lost phone's does: its port ends and its calls with it.
 */
import type { WebSocket } from 'ws';

/** Returns what stops it (the socket moves to another process). */
export function keepAlive(
  ws: WebSocket,
  intervalMs: number,
  timeoutMs: number,
  timedOut: () => void,
): () => void {
  if (intervalMs === 0) return () => {};
  let deadline: NodeJS.Timeout | undefined;
  const ping = setInterval(() => {
    // Still waiting for the last answer: its deadline stands.
    if (deadline !== undefined) return;
    ws.ping();
    deadline = setTimeout(() => {
      timedOut();
      ws.terminate();
    }, timeoutMs);
  }, intervalMs);
  ws.on('pong', () => {
    clearTimeout(deadline);
    deadline = undefined;
  });
  const stop = () => {
    clearInterval(ping);
    clearTimeout(deadline);
  };
  ws.once('close', stop);
  return stop;
}
