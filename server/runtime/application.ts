/**
 * An application: the process that owns a node's top supervisor, as OTP's application
 * master does. A supervisor only obeys an exit signal from its parent, so something must
 * be that parent: stopping the application shuts the whole tree down in order.
 */
import { type Behaviour, noreply, reply, type SystemInfo, stop } from './behaviour.ts';
import { shutdownChild } from './child.ts';
import { shutdown } from './exit-reason.ts';
import type { Pid } from './pid.ts';
import type { SupervisorArgs } from './supervisor.ts';

export interface ApplicationState {
  top: Pid;
}

export const application: Behaviour<
  ApplicationState,
  SupervisorArgs,
  { call: 'stop' | 'top'; reply: Pid | 'ok'; cast: never; info: never }
> = {
  name: 'application',
  version: '1.0.0',

  init(args, ctx) {
    ctx.trapExit(true);
    return { top: ctx.spawn('supervisor', args, { link: true }) };
  },

  handleCall(message, _from, state) {
    if (message === 'top') return reply(state.top, state);
    return { type: 'stop', reason: shutdown, reply: 'ok', state };
  },

  handleInfo(message, state) {
    const info = message as SystemInfo;
    // The top supervisor gave up (restart intensity): the application ends with it.
    if (info.type === 'EXIT' && info.from === state.top) return stop(info.reason, state);
    return noreply(state);
  },

  async terminate(_reason, state, ctx) {
    await shutdownChild(ctx, state.top, 'infinity');
  },
};
