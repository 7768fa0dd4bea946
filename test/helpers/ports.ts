import { createServer } from 'node:net';

/*
 * Ports for servers that must be told their port before they listen (a child process, FerretDB,
 * rsyslog, a bridge whose address the OpenID provider must know first). A port asked of the
 * kernel with listen(0) and then released can be handed out again at once — to any outgoing
 * connection of any test file running beside this one — so those ports come from below the
 * kernel's ephemeral range instead, each vitest worker from its own block: nothing else takes
 * them between the probe and the listen.
 */
const BELOW_EPHEMERAL = 20_000;
const BLOCK = 1_000;
const BLOCKS = 12; // 20 000–31 999: under Linux's default ephemeral range (32 768–60 999)

const worker = Number(process.env.VITEST_POOL_ID ?? process.pid) % BLOCKS;
let next = 0;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** A port free on 127.0.0.1 that no other test worker, and no listen(0) or outgoing connection, will take. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < BLOCK; tries++) {
    const port = BELOW_EPHEMERAL + worker * BLOCK + (next++ % BLOCK);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in this worker's block ${BELOW_EPHEMERAL + worker * BLOCK}+${BLOCK}`);
}
