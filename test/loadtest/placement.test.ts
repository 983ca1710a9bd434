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
  it.each([2, 3, 4])('puts 0, ¼, ½ or all of the pairs across %s nodes, as many phones on each', (nodes) => {
    for (const share of [0, 0.25, 0.5, 1]) {
      const phones = 2 * nodes * 40;
      const { crossing, perNode } = place(phones, nodes, share);
      expect(crossing).toBe(share);
      expect(perNode).toEqual(perNode.map(() => phones / nodes));
    }
  });

  it('one node holds every phone', () => {
    expect(new Set(place(20, 1, 0.5).at)).toEqual(new Set([0]));
  });

  it('the offset shifts the round-robin, so small workers do not all start on node 0', () => {
    expect(place(2, 3, 0, 0).at).toEqual([0, 0]);
    expect(place(2, 3, 0, 1).at).toEqual([1, 1]);
  });
});
