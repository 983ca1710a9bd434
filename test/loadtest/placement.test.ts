/** Phones over nodes: pairs round-robin, the asked share of pairs across nodes, an even spread. */
import { describe, expect, it } from 'vitest';
import { nodeOf } from '../../loadtest/harness/placement.ts';

function place(phones: number, nodes: number, crossNode: number, offset = 0) {
  const at = Array.from({ length: phones }, (_, i) => nodeOf(i, { nodes, crossNode, offset }));
  const pairs = phones / 2;
  const crossing = Array.from({ length: pairs }, (_, k) => at[2 * k] !== at[2 * k + 1]).filter(
    Boolean,
  ).length;
  const perNode = Array.from({ length: nodes }, (_, n) => at.filter((x) => x === n).length);
  return { at, crossing: crossing / pairs, perNode };
}

describe('placement', () => {
  it.each([0, 0.25, 0.5, 1])('puts %s of the pairs across nodes, spread evenly over 3 nodes', (share) => {
    const { crossing, perNode } = place(600, 3, share);
    expect(crossing).toBe(share);
    for (const n of perNode) expect(Math.abs(n - 200)).toBeLessThanOrEqual(50);
  });

  it('one node holds every phone', () => {
    expect(new Set(place(20, 1, 0.5).at)).toEqual(new Set([0]));
  });

  it('the offset shifts the round-robin, so small workers do not all start on node 0', () => {
    expect(place(2, 3, 0, 0).at).toEqual([0, 0]);
    expect(place(2, 3, 0, 1).at).toEqual([1, 1]);
  });
});
