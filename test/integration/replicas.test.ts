import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMongoStore } from '../../src/store/mongo/store.ts';
import type { RecordOp } from '../../src/store/records.ts';
import { type ChildServer, startChildReplica, startChildServer } from '../helpers/child-server.ts';
import { mongoUri } from '../helpers/db.ts';
import { waitUntil } from '../helpers/process.ts';
import { scrapeMetrics } from '../helpers/prometheus.ts';
import { interceptionRecord } from '../helpers/records.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-replicas-');
const database = `replicas_${process.pid}`;
const OLD = 40;

let upstream: ReplayUpstream;
let a: ChildServer;
let b: ChildServer;
let store: Awaited<ReturnType<typeof openMongoStore>>;

/** Interceptions from last year, for the replicas' retention to find at start-up. */
async function seedOld() {
  const started = new Date(Date.now() - 400 * 86_400_000);
  const ops: RecordOp[] = Array.from({ length: OLD }, () => ({
    kind: 'interception',
    doc: interceptionRecord({ initiator_id: 'gone', started_at: started }),
  }));
  await store.records.write(ops);
}

beforeAll(async () => {
  store = await openMongoStore(mongoUri(), database);
  await store.db.dropDatabase();
  await seedOld();
  upstream = await ReplayUpstream.start();
  upstream.setDefault('anthropic-messages/text.json');
  const config = {
    mongodb: { uri: mongoUri(), database },
    retention: '30d',
    limits: { user_requests_per_minute: 8 },
    providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-test' }],
  };
  a = await startChildServer(tempDir(), config);
  b = await startChildReplica(tempDir(), config);
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await upstream?.close();
  await store?.db.dropDatabase();
  await store?.close();
});

const ask = (url: string, token: string) =>
  fetch(`${url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': token, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-test-1', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
  });
const api = (url: string, token: string, path: string, init: RequestInit = {}) =>
  fetch(`${url}/api/v2/aibridge${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });

describe('two replicas on one MongoDB', () => {
  it('both record, and each one’s audit API sees every interception', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await ask(a.url, a.token)).status).toBe(200);
      expect((await ask(b.url, a.token)).status).toBe(200); // the owner's token works on either
    }
    for (const replica of [a, b]) {
      await waitUntil(async () => {
        const page = await (await api(replica.url, a.token, '/interceptions?q=status:completed&limit=100')).json();
        return page.count === 6;
      }, 20_000);
    }
  });

  it('refuses on one replica a token revoked through the other, within 5 s', async () => {
    const created = await (
      await api(a.url, a.token, '/users', { method: 'POST', body: JSON.stringify({ username: 'rita' }) })
    ).json();
    const token = created.token as string;
    expect((await ask(b.url, token)).status).toBe(200); // B has it cached now
    const tokens = await (await api(a.url, token, '/users/me/tokens')).json();
    expect((await api(a.url, token, `/users/me/tokens/${tokens.results[0].id}`, { method: 'DELETE' })).status).toBe(
      204,
    );
    expect((await ask(a.url, token)).status).toBe(401); // at once where it was revoked
    // Refused on every replica within 5 s (B re-checks a cached token every 4 s).
    await waitUntil(async () => (await ask(b.url, token)).status === 401, 5_000);
  });

  it('holds one per-user rate limit across both replicas', async () => {
    // The limit counts per clock minute: start early in one, so the test never straddles two.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
    const created = await (
      await api(a.url, a.token, '/users', { method: 'POST', body: JSON.stringify({ username: 'ray' }) })
    ).json();
    for (let i = 0; i < 5; i++) expect((await ask(a.url, created.token)).status).toBe(200);
    expect((await ask(b.url, created.token)).status).toBe(200); // B has not heard of A's five yet
    await new Promise((r) => setTimeout(r, 2_500)); // both share their counts every second
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await ask(b.url, created.token)).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
  });

  it('purges once: one replica deletes the old interceptions, the other finds them gone', async () => {
    const purged = async (replica: ChildServer) =>
      (await scrapeMetrics(replica.url)).value('aibridge_retention_purged_documents_total', {
        collection: 'interceptions',
      });
    await waitUntil(async () => (await purged(a)) + (await purged(b)) >= OLD, 20_000);
    const counts = [await purged(a), await purged(b)].sort();
    expect(counts).toEqual([0, OLD]);
    expect(await store.audit.count({ initiator_id: 'gone' })).toBe(0);
  });

  it('each replica writes a chain of its own; after the purge, every chain verifies from its anchor', async () => {
    // Both replicas recorded the first test's traffic.
    const verify = async (replica: ChildServer) =>
      (await (await api(replica.url, a.token, '/audit/verify')).json()) as {
        ok: boolean;
        checked: number;
        chains: Array<{ writer: { store: string; pid: number }; head: { seq: number }; anchor_seq: number }>;
      };
    // The seeded old interceptions (this test's own chain, purged whole), and one chain per replica.
    await waitUntil(async () => {
      const { chains } = await verify(a);
      return chains.filter((c) => c.writer.pid !== process.pid).every((c) => c.head.seq > 0) && chains.length === 3;
    }, 20_000);
    for (const replica of [a, b]) {
      const result = await verify(replica);
      expect(result.ok).toBe(true);
      const seeded = result.chains.find((c) => c.writer.pid === process.pid);
      expect(seeded).toMatchObject({ head: { seq: OLD }, anchor_seq: OLD });
      expect(result.chains.filter((c) => c.writer.pid !== process.pid)).toHaveLength(2);
    }
  });
});
