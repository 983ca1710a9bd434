/**
 * How the handoff's messages travel on a JSON channel (protocol.ts): bare when they are plain
 * JSON, packed otherwise; what comes off the channel and is no message is dropped, never thrown.
 */
import { describe, expect, it } from 'vitest';
import { fromWire, type HandoffMessage, toWire } from '../../server/handoff/protocol.ts';

/** Through JSON, as Node's IPC with `serialization: 'json'` carries it. */
const overJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('the handoff wire', () => {
  it('carries a batch packed, Buffers and Maps included, and plain messages bare', () => {
    const batch = {
      type: 'batch',
      batch: 3,
      images: [{ pid: '<n.1.0>', state: new Map([['k', Buffer.from('v')]]) }],
      phones: [{ socket: 7, head: Buffer.from([1, 2, 3]) }],
      names: { set: [['user:ann', '<n.2.0>']], unset: ['user:bob'] },
    } as unknown as HandoffMessage;
    const wire = toWire(batch) as { type: string; data: unknown };
    expect(wire.type).toBe('packed');
    expect(typeof wire.data).toBe('string');
    expect(fromWire(overJson(wire))).toEqual(batch);
    const held: HandoffMessage = { type: 'held', sockets: [1, 2] };
    expect(toWire(held)).toBe(held);
    expect(fromWire(overJson(toWire(held)))).toEqual(held);
  });

  it('deflates a large packed message, and only a large one', () => {
    const images = Array.from({ length: 2_000 }, (_, i) => ({ pid: `<n.${i}.0>`, state: { calls: i } }));
    const batch = { type: 'batch', batch: 9, images, phones: [] } as unknown as HandoffMessage;
    const wire = toWire(batch) as { deflated?: boolean; data: string };
    expect(wire.deflated).toBe(true);
    expect(fromWire(overJson(wire))).toEqual(batch);
    const small = toWire({ type: 'batch', batch: 1, images: [], phones: [] }) as { deflated?: boolean };
    expect(small.deflated).toBeUndefined();
  });

  it('drops what is no message: garbage packed, a packed kind sent bare, no type', () => {
    expect(fromWire({ type: 'packed', data: 'not v8 at all' })).toBeUndefined();
    expect(fromWire({ type: 'packed', deflated: true, data: 'bm90IGRlZmxhdGU=' })).toBeUndefined();
    expect(fromWire({ type: 'packed', data: 42 })).toBeUndefined();
    expect(fromWire({ type: 'batch', batch: 1, images: [], phones: [] })).toBeUndefined();
    expect(fromWire({ nothing: true })).toBeUndefined();
    expect(fromWire('hello')).toBeUndefined();
  });
});
