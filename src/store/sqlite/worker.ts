// A worker thread owning one SQLite connection: runs store operations sent by the
// server's event loop, one at a time, and posts back results or errors.
import { parentPort, workerData } from 'node:worker_threads';
import { EmbeddedDatabase, openDatabase } from './database.ts';
import { type Request, run } from './protocol.ts';

const database = new EmbeddedDatabase(openDatabase((workerData as { file: string }).file));
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
