import { Worker } from 'node:worker_threads';
import { siblingModule } from '../../paths.ts';
import { type MethodName, type Request, type Response, revive } from './protocol.ts';

/** The worker thread died under a call: an outage of the moment, never a bad record. */
export class WorkerGone extends Error {}

/** A worker thread with its own connection; restarted on the next call if it ever dies. */
export class Channel {
  readonly #file: string;
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(file: string) {
    this.#file = file;
  }

  get load(): number {
    return this.#pending.size;
  }

  call(method: MethodName, args: unknown[]): Promise<unknown> {
    const worker = this.#spawn();
    const id = this.#next++;
    return new Promise((resolvePromise, reject) => {
      this.#pending.set(id, { resolve: resolvePromise, reject });
      worker.postMessage({ id, method, args } satisfies Request);
    });
  }

  #spawn(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(siblingModule(import.meta.url, './worker'), {
      workerData: { file: this.#file },
    });
    worker.on('message', (response: Response) => {
      const waiter = this.#pending.get(response.id);
      this.#pending.delete(response.id);
      if ('error' in response) waiter?.reject(revive(response.error));
      else waiter?.resolve(response.value);
    });
    const gone = (reason: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      for (const waiter of this.#pending.values()) waiter.reject(new WorkerGone(`embedded store worker ${reason}`));
      this.#pending.clear();
    };
    worker.on('error', (err) => gone(`failed: ${err.message}`));
    worker.on('exit', (code) => gone(`exited (${code})`));
    this.#worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    const exited = new Promise((r) => worker.once('exit', r));
    worker.postMessage('close');
    await exited;
  }
}
