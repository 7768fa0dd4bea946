import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';
import type { AppContext } from '../../src/server/context.ts';
import { type Runtime, Runtimes } from '../../src/server/runtime.ts';

/** Something a runtime holds open; remembers whether it was closed. */
class Connection {
  readonly name: string;
  closed = false;
  constructor(name: string) {
    this.name = name;
  }
  async close() {
    this.closed = true;
  }
}

/** A runtime of fake connections: providers, shared MCP proxies and the per-user pool. */
function runtime(providers: Connection[], proxies: Connection[], pool = new Connection('pool')): Runtime {
  return {
    providers,
    mcp: { pool, manager: { sharedProxies: proxies } },
  } as unknown as Runtime;
}

function context(first: Runtime): { ctx: AppContext; runtimes: Runtimes } {
  const ctx = { ...first, logger: createLogger({ level: 'silent' }) } as unknown as AppContext;
  ctx.runtimes = new Runtimes(() => ctx);
  return { ctx, runtimes: ctx.runtimes };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Runtimes', () => {
  it('gives new requests the new runtime and closes what only the old one held once its requests end', async () => {
    const [openai, anthropic, github, pool1] = ['openai', 'anthropic', 'github', 'pool1'].map((n) => new Connection(n));
    const { ctx, runtimes } = context(runtime([openai!, anthropic!], [github!], pool1));
    const held = runtimes.hold();
    const anthropic2 = new Connection('anthropic2');
    runtimes.swap(runtime([openai!, anthropic2], [github!]));
    expect(held.runtime.providers).toEqual([openai, anthropic]);
    expect(ctx.providers).toEqual([openai, anthropic2]);
    expect(runtimes.hold().runtime.providers).toEqual([openai, anthropic2]);
    await settle();
    expect(anthropic?.closed).toBe(false); // still held

    held.release();
    held.release(); // once only
    await settle();
    expect([anthropic?.closed, pool1?.closed]).toEqual([true, true]);
    expect([openai?.closed, github?.closed]).toEqual([false, false]); // carried over
  });

  it('keeps a connection an older held runtime shares, even when a newer one drops it', async () => {
    const jira = new Connection('jira');
    const { runtimes } = context(runtime([], [jira]));
    const oldest = runtimes.hold(); // a long request on the first runtime
    runtimes.swap(runtime([], [jira])); // jira unchanged: carried over
    runtimes.swap(runtime([], [])); // jira removed; the middle runtime had no requests
    await settle();
    expect(jira.closed).toBe(false);
    oldest.release();
    await settle();
    expect(jira.closed).toBe(true);
  });

  it('closes what retired runtimes hold on shutdown, without waiting for their requests', async () => {
    const old = new Connection('old');
    const { runtimes } = context(runtime([old], []));
    runtimes.hold();
    runtimes.swap(runtime([], []));
    await runtimes.closeRetired();
    expect(old.closed).toBe(true);
  });
});
