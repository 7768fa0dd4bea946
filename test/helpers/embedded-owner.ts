// Starts the embedded database for the directory in argv[2], prints it, and waits to be killed.
import { startEmbedded } from '../../src/store/embedded.ts';

const db = await startEmbedded(process.argv[2] as string);
process.stdout.write(`${JSON.stringify({ pid: db.pid, uri: db.uri })}\n`);
setInterval(() => {}, 60_000);
