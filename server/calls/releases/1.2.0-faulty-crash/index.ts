/**
 * Release 1.2.0-faulty-crash: broken on purpose, for tests and the demo of an upgrade that
 * succeeds and then misbehaves. It is 1.1.0 (kit v1's call_info session) under another
 * version, and it migrates every session up (from 1.1.0 or 1.0.0) and down (to either) as
 * 1.1.0 would.
 *
 * Trigger: every `dtmf` frame from a phone crashes the session handling it. The handler
 * throws as its first step, before any frame is sent or any state changes, so the crash is
 * the only effect: the session ends with an `error` exit, its call ends with cause `error`
 * (CDR written, the other phone hears `peer_gone`) and the socket closes with 1011. Every
 * other message works as in 1.1.0.
 */
import { callRelease } from '../../call-release.ts';
import { callInfoMessages } from '../../kit/v1/call-info.ts';
import { variantOfV11 } from '../../kit/v1/variant.ts';

export const VERSION = '1.2.0-faulty-crash';

export const session = variantOfV11(VERSION, {
  fromPhone: {
    dtmf() {
      throw new Error(`session ${VERSION}: the dtmf handler is broken (a fault, on purpose)`);
    },
  },
});

export const release = callRelease(session, callInfoMessages);
