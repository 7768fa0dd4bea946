/**
 * The embedded store's writer thread runs at a lower priority than the event loop (it gives way
 * when every core is busy); its readers, which answer the audit API, do not. Linux: there a
 * thread's nice value is its own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type TestStore, testEmbeddedStore } from '../helpers/db.ts';
import { interceptionRecord } from '../helpers/records.ts';

/** This process's threads named WorkerThread, with their nice values (/proc/self/task/N/stat, field 19). */
function workerThreads(): Map<number, number> {
  const threads = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== 'WorkerThread') continue;
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      threads.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {} // ended meanwhile
  }
  return threads;
}

let store: TestStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe.skipIf(process.platform !== 'linux')('embedded store threads', () => {
  it('writes at nice 10 and reads at the process’s own priority, and the records land', async () => {
    const before = workerThreads();
    store = testEmbeddedStore('threads');
    const doc = interceptionRecord({ _id: 'prio-1' });
    await store.records.write([{ kind: 'interception', doc }]); // starts the writer
    expect(await store.audit.get({}, 'prio-1')).toMatchObject({ interception: { _id: 'prio-1' } }); // a reader
    const started = [...workerThreads()].filter(([tid]) => !before.has(tid));
    expect(started.map(([, nice]) => nice).sort((a, b) => a - b)).toEqual([0, 10]);
  });
});
