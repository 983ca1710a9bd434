/**
 * Which node each phone of a worker connects to. Phones come in pairs (2k calls, 2k+1
 * answers); pairs go round-robin over the nodes, and a callee goes to the node after its
 * caller's for `crossNode` of the rounds (one pair per node), so that share of the two-party
 * calls crosses nodes and every node still holds as many phones as the others: deciding per
 * pair instead would tie crossing to the caller's node when the pattern and the node count
 * share a period (half the pairs over two nodes).
 */
export interface Placement {
  nodes: number;
  /** Share of pairs (0…1) whose callee is registered on another node than its caller. */
  crossNode: number;
  /** Shifts the round-robin, per worker, so that workers with odd counts do not all favour node 0. */
  offset: number;
}

/** Round k crosses when ⌊(k+1)·share⌋ > ⌊k·share⌋: `share` of any run of rounds, spread evenly. */
function crosses(round: number, share: number): boolean {
  return Math.floor((round + 1) * share) > Math.floor(round * share);
}

export function nodeOf(index: number, p: Placement): number {
  const pair = Math.floor(index / 2) + p.offset;
  const callerNode = pair % p.nodes;
  if (index % 2 === 0 || p.nodes === 1 || !crosses(Math.floor(pair / p.nodes), p.crossNode))
    return callerNode;
  return (callerNode + 1) % p.nodes;
}
