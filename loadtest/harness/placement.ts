/**
 * Which node each phone of a worker connects to. Phones come in pairs (2k calls, 2k+1
 * answers); pairs go round-robin over the nodes, and a callee goes to the node after its
 * caller's for an even spread of `crossNode` of the pairs, so that share of the two-party
 * calls crosses nodes and every node still holds about as many phones as the others.
 */
export interface Placement {
  nodes: number;
  /** Share of pairs (0…1) whose callee is registered on another node than its caller. */
  crossNode: number;
  /** Shifts the round-robin, per worker, so that workers with odd counts do not all favour node 0. */
  offset: number;
}

/** Pair k crosses when ⌊(k+1)·share⌋ > ⌊k·share⌋: exactly `share` of any run of pairs, spread evenly. */
function crosses(pair: number, share: number): boolean {
  return Math.floor((pair + 1) * share) > Math.floor(pair * share);
}

export function nodeOf(index: number, p: Placement): number {
  const pair = Math.floor(index / 2) + p.offset;
  const callerNode = pair % p.nodes;
  if (index % 2 === 0 || p.nodes === 1 || !crosses(pair, p.crossNode)) return callerNode;
  return (callerNode + 1) % p.nodes;
}
