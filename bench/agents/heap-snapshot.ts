// A V8 heap snapshot (the JSON that HeapProfiler.takeHeapSnapshot streams) read into flat arrays,
// with what DevTools shows: each object's retained size (its dominator subtree, weak edges not
// followed) and a shortest retaining path from the GC roots. Used by heap.ts to diff two snapshots.

interface Raw {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export class HeapSnapshot {
  readonly count: number;
  readonly type: string[] = [];
  readonly name: string[] = [];
  readonly id: Float64Array;
  readonly selfSize: Float64Array;
  /** Per node, its first edge in `edgeTo`/`edgeName`/`edgeType` (CSR); `firstEdge[count]` ends the last. */
  readonly firstEdge: Uint32Array;
  readonly edgeTo: Uint32Array;
  readonly edgeType: string[] = [];
  readonly edgeName: string[] = [];
  /** Immediate dominator per node (the root's is itself; unreachable nodes: -1). */
  readonly idom: Int32Array;
  readonly retained: Float64Array;
  /** The retainer on a shortest path from the root, and the edge from it (-1: none). */
  readonly parent: Int32Array;
  readonly parentEdge: Int32Array;

  constructor(json: string) {
    const raw = JSON.parse(json) as Raw;
    const meta = raw.snapshot.meta;
    const nf = meta.node_fields.length;
    const ef = meta.edge_fields.length;
    const [nodeTypes] = meta.node_types;
    const [edgeTypes] = meta.edge_types;
    const at = (field: string, fields: string[]) => fields.indexOf(field);
    const [nType, nName, nId, nSelf, nEdges] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) =>
      at(f, meta.node_fields),
    ) as [number, number, number, number, number];
    const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => at(f, meta.edge_fields)) as [
      number,
      number,
      number,
    ];
    this.count = raw.nodes.length / nf;
    this.id = new Float64Array(this.count);
    this.selfSize = new Float64Array(this.count);
    this.firstEdge = new Uint32Array(this.count + 1);
    const edgeCount = raw.edges.length / ef;
    this.edgeTo = new Uint32Array(edgeCount);
    let edge = 0;
    for (let n = 0; n < this.count; n++) {
      const base = n * nf;
      this.type.push(nodeTypes[raw.nodes[base + nType] as number] as string);
      this.name.push(raw.strings[raw.nodes[base + nName] as number] as string);
      this.id[n] = raw.nodes[base + nId] as number;
      this.selfSize[n] = raw.nodes[base + nSelf] as number;
      this.firstEdge[n] = edge;
      edge += raw.nodes[base + nEdges] as number;
    }
    this.firstEdge[this.count] = edge;
    for (let e = 0; e < edgeCount; e++) {
      const base = e * ef;
      const type = edgeTypes[raw.edges[base + eType] as number] as string;
      const nameOrIndex = raw.edges[base + eName] as number;
      this.edgeType.push(type);
      this.edgeName.push(
        type === 'element' || type === 'hidden' ? `[${nameOrIndex}]` : (raw.strings[nameOrIndex] as string),
      );
      this.edgeTo[e] = (raw.edges[base + eTo] as number) / nf;
    }
    this.idom = new Int32Array(this.count).fill(-1);
    this.retained = new Float64Array(this.count);
    this.parent = new Int32Array(this.count).fill(-1);
    this.parentEdge = new Int32Array(this.count).fill(-1);
    this.#dominators();
    this.#shortestPaths();
  }

  /** Edges that keep their target alive (weak ones do not). */
  #strong(e: number): boolean {
    return this.edgeType[e] !== 'weak';
  }

  /** Cooper, Harvey and Kennedy's iterative dominators over a depth-first postorder, then retained sizes. */
  #dominators(): void {
    const post = new Int32Array(this.count).fill(-1); // node → postorder number
    const order: number[] = []; // postorder number → node
    const stack = [0];
    const next = new Uint32Array(this.count); // per node, the next edge to try
    const seen = new Uint8Array(this.count);
    seen[0] = 1;
    for (let n = 0; n < this.count; n++) next[n] = this.firstEdge[n] as number;
    while (stack.length) {
      const n = stack[stack.length - 1] as number;
      const end = this.firstEdge[n + 1] as number;
      let pushed = false;
      while ((next[n] as number) < end) {
        const e = next[n] as number;
        next[n] = e + 1;
        const to = this.edgeTo[e] as number;
        if (!this.#strong(e) || seen[to]) continue;
        seen[to] = 1;
        stack.push(to);
        pushed = true;
        break;
      }
      if (!pushed) {
        stack.pop();
        post[n] = order.length;
        order.push(n);
      }
    }
    // Retainers of reachable nodes, over strong edges.
    const retainerCount = new Uint32Array(this.count + 1);
    for (let n = 0; n < this.count; n++) {
      if (post[n] === -1) continue;
      for (let e = this.firstEdge[n] as number; e < (this.firstEdge[n + 1] as number); e++)
        if (this.#strong(e)) {
          const at = (this.edgeTo[e] as number) + 1;
          retainerCount[at] = (retainerCount[at] as number) + 1;
        }
    }
    for (let n = 0; n < this.count; n++)
      retainerCount[n + 1] = (retainerCount[n + 1] as number) + (retainerCount[n] as number);
    const retainers = new Uint32Array(retainerCount[this.count] as number);
    const fill = retainerCount.slice();
    for (let n = 0; n < this.count; n++) {
      if (post[n] === -1) continue;
      for (let e = this.firstEdge[n] as number; e < (this.firstEdge[n + 1] as number); e++) {
        if (!this.#strong(e)) continue;
        const to = this.edgeTo[e] as number;
        retainers[fill[to] as number] = n;
        fill[to] = (fill[to] as number) + 1;
      }
    }
    const root = order.length - 1;
    const dom = new Int32Array(order.length).fill(-1); // by postorder number
    dom[root] = root;
    const intersect = (a: number, b: number) => {
      while (a !== b) {
        while (a < b) a = dom[a] as number;
        while (b < a) b = dom[b] as number;
      }
      return a;
    };
    for (let changed = true; changed; ) {
      changed = false;
      for (let p = root - 1; p >= 0; p--) {
        const n = order[p] as number;
        let candidate = -1;
        for (let r = retainerCount[n] as number; r < (retainerCount[n + 1] as number); r++) {
          const q = post[retainers[r] as number] as number;
          if (q === -1 || dom[q] === -1) continue;
          candidate = candidate === -1 ? q : intersect(q, candidate);
        }
        if (candidate !== -1 && dom[p] !== candidate) {
          dom[p] = candidate;
          changed = true;
        }
      }
    }
    for (let p = 0; p < order.length; p++) {
      const n = order[p] as number;
      this.idom[n] = order[dom[p] as number] as number;
      this.retained[n] = (this.retained[n] as number) + (this.selfSize[n] as number);
      const d = this.idom[n] as number;
      if (p !== root) this.retained[d] = (this.retained[d] as number) + (this.retained[n] as number);
    }
  }

  /** Breadth first from the root over strong edges: a shortest retaining path for every node. */
  #shortestPaths(): void {
    const queue = new Uint32Array(this.count);
    let head = 0;
    let tail = 0;
    queue[tail++] = 0;
    this.parent[0] = 0;
    while (head < tail) {
      const n = queue[head++] as number;
      for (let e = this.firstEdge[n] as number; e < (this.firstEdge[n + 1] as number); e++) {
        const to = this.edgeTo[e] as number;
        if (!this.#strong(e) || this.parent[to] !== -1) continue;
        this.parent[to] = n;
        this.parentEdge[to] = e;
        queue[tail++] = to;
      }
    }
  }

  /** What a node is: its constructor (objects), function (closures), or kind (strings, arrays, V8 internals). */
  label(n: number): string {
    const type = this.type[n] as string;
    const name = this.name[n] as string;
    if (type === 'object' || type === 'closure') return `${name}${type === 'closure' ? '()' : ''}`;
    if (type === 'native' || type === 'hidden' || type === 'synthetic' || type === 'code')
      return `(${name.length > 60 ? `${name.slice(0, 60)}…` : name})`;
    return `(${type})`;
  }

  /** The shortest retaining path to `n`, root first, as `label .edge` steps (the last `depth` of them). */
  path(n: number, depth = 8): string {
    const steps: string[] = [];
    for (let at = n; at !== 0 && this.parent[at] !== -1 && steps.length < depth; at = this.parent[at] as number) {
      const e = this.parentEdge[at] as number;
      const edge = this.edgeType[e] === 'element' ? this.edgeName[e] : `.${this.edgeName[e]}`;
      steps.unshift(`${edge} ${this.label(at)}`);
    }
    return steps.join(' ');
  }
}
