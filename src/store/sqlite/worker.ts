// A worker thread owning one SQLite connection: runs store operations sent by the
// server's event loop, one at a time, and posts back results or errors.
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { EmbeddedDatabase, openDatabase } from './database.ts';
import { type Request, run, type WorkerData } from './protocol.ts';

/**
 * The writer's nice value. Its work (records, in batches) can wait; when every core is busy it
 * gives way to the event loop and the upstream a request is waiting on, and it uses what is idle
 * (README "Performance"). Linux only: there a thread's priority is its own, elsewhere it is the process's.
 */
const WRITER_NICE = 10;

const { file, role } = workerData as WorkerData;
if (role === 'writer' && process.platform === 'linux') {
  try {
    setPriority(WRITER_NICE); // this thread only
  } catch {} // not permitted (a container's seccomp): it runs as it did
}
const database = new EmbeddedDatabase(openDatabase(file));
const port = parentPort;
// Long-lived connections keep the planner's statistics fresh as the data grows (SQLite's advice).
setInterval(() => database.db.exec('PRAGMA optimize'), 3_600_000).unref();
if (!port) throw new Error('the embedded store worker must run in a worker thread');

port.on('message', (request: Request | 'close') => {
  if (request === 'close') {
    database.close();
    process.exit(0);
  }
  port.postMessage(run(database, request));
});
