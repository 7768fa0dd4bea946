// A child's V8 through its inspector (started with --inspect=127.0.0.1:0): collect garbage, read the heap.

/** The inspector's WebSocket URL, as the child prints it on stderr. */
export const INSPECTOR_URL = /Debugger listening on (ws:\/\/\S+)/;

/** A V8 sampling heap profile: a tree of call frames, each with the bytes allocated in it. */
export interface AllocationProfile {
  head: AllocationNode;
}

export interface AllocationNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: AllocationNode[];
}

export class Inspector {
  readonly #socket: WebSocket;
  #next = 1;
  readonly #waiting = new Map<number, (result: unknown) => void>();
  /** Heap snapshot chunks as they stream in, while a snapshot is being taken. */
  #chunks: string[] | undefined;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as {
        id?: number;
        result?: unknown;
        method?: string;
        params?: { chunk?: string };
      };
      if (message.id !== undefined) this.#waiting.get(message.id)?.(message.result);
      else if (message.method === 'HeapProfiler.addHeapSnapshotChunk') this.#chunks?.push(message.params?.chunk ?? '');
    });
  }

  static async connect(url: string): Promise<Inspector> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve, { once: true });
      socket.addEventListener('error', reject, { once: true });
    });
    return new Inspector(socket);
  }

  #send<T>(method: string, params?: object): Promise<T> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, (result) => resolve(result as T));
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Bytes of live JavaScript heap after a full collection. */
  async heapUsedAfterGc(): Promise<number> {
    await this.#send('HeapProfiler.collectGarbage');
    return (await this.#send<{ usedSize: number }>('Runtime.getHeapUsage')).usedSize;
  }

  /** A heap snapshot (V8 collects garbage first), as the JSON DevTools reads from a .heapsnapshot file. */
  async heapSnapshot(): Promise<string> {
    this.#chunks = [];
    try {
      await this.#send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      return this.#chunks.join('');
    } finally {
      this.#chunks = undefined;
    }
  }

  /** Samples every allocation, garbage included (what a request costs the collector), about every `intervalBytes`. */
  async startAllocationSampling(intervalBytes: number): Promise<void> {
    await this.#send('HeapProfiler.startSampling', {
      samplingInterval: intervalBytes,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }

  /** The sampled allocations since startAllocationSampling, as a V8 sampling heap profile. */
  async stopAllocationSampling(): Promise<AllocationProfile> {
    return (await this.#send<{ profile: AllocationProfile }>('HeapProfiler.stopSampling')).profile;
  }

  close(): void {
    this.#socket.close();
  }
}
