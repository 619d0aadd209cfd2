// The Status view's cluster table, from GET /api/v1/cluster asked of the
// cluster (every node's own description under "nodes", docs/cluster.md).

export interface ClusterNode {
  node: string;
  node_id: string | null;
  ok: boolean;
  partitions: Array<{ key: string; lag: number | null }> | null;
  error: string | null;
}

export interface ClusterReply {
  enabled: boolean;
  node_id: string;
  peers: Array<{ url: string; last_contact: string | null }>;
  nodes?: ClusterNode[];
}

export interface ClusterRow {
  key: string;
  id: string;
  self: boolean;
  url: string;
  ok: boolean;
  state: string;
  partitions: number | null; /* null: the node did not answer */
  behind: number | null; /* records not yet durable there, summed */
  lastContactMs: number | null;
}

/** One row per node; none when the daemon is not in a cluster. */
export function clusterRows(c: ClusterReply | null): ClusterRow[] {
  if (!c || !c.enabled || !c.nodes) return [];
  return c.nodes.map((n) => {
    const peer = c.peers.find((p) => p.url === n.node);
    const parts = n.ok && n.partitions ? n.partitions : null;
    return {
      key: n.node,
      id: n.node_id || "?",
      self: n.node_id === c.node_id,
      url: n.node,
      ok: n.ok,
      state: n.ok ? "answering" : n.error || "no answer",
      partitions: parts ? parts.length : null,
      behind: parts ? parts.reduce((a, p) => a + (p.lag ?? 0), 0) : null,
      lastContactMs: peer?.last_contact ? Date.parse(peer.last_contact) : null,
    };
  });
}
