/**
 * Audit sinks end to end (README "Audit sinks"): the real bridge, real traffic, a webhook
 * receiver on loopback that fails, hangs and goes away, and a restart with records waiting.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointFile } from '../../src/recorder/sinks/checkpoint.ts';
import { AuditReceiver, firstArrivals, journalKeys } from '../helpers/audit-receiver.ts';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { type TestStore, testStore } from '../helpers/db.ts';
import { freePort } from '../helpers/ports.ts';
import { waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-audit-sinks-');
const TOKEN = 'siem-ingest-secret-7f3a';

let upstream: ReplayUpstream;
beforeAll(async () => {
  upstream = await ReplayUpstream.start();
  upstream.setDefault('anthropic-messages/text.json');
});
afterAll(() => upstream?.close());

function bridgeConfig(dataDir: string, receiverPort: number) {
  return {
    data_dir: dataDir,
    providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' }],
    audit_sinks: [
      {
        type: 'webhook',
        name: 'siem',
        url: `http://127.0.0.1:${receiverPort}/ingest?tenant=acme`,
        headers: { Authorization: `Bearer ${TOKEN}` },
        timeout: '1s',
        retry_max: '500ms',
      },
    ],
  };
}

/** One Messages request through the bridge; returns its status. */
async function ask(bridge: TestBridge, token: string, prompt: string): Promise<number> {
  const response = await fetch(`${bridge.url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': token, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: prompt }] }),
  });
  await response.arrayBuffer();
  return response.status;
}

async function askMany(bridge: TestBridge, token: string, label: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push(await ask(bridge, token, `${label} ${i}`));
  return statuses;
}

/** A series of /metrics for the sink, e.g. aibridge_audit_sink_errors_total{sink="siem"}. */
async function metric(bridge: TestBridge, name: string): Promise<number> {
  const text = await (await fetch(`${bridge.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{sink="siem"} `));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

describe('webhook audit sink', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await testStore('embedded', 'audit-sinks');
  });
  afterAll(() => store?.close());

  it('delivers every record at least once, in order, through 500s, a hung receiver and refused connections; requests are served meanwhile', async () => {
    const dataDir = tempDir();
    const receiver = await AuditReceiver.start(await freePort(), TOKEN);
    const bridge = await startTestBridge(store, bridgeConfig(dataDir, receiver.port));
    try {
      const { token, id: userId } = await bridge.user('outage-dev');
      const journal = join(dataDir, 'journal');
      const allArrived = () => {
        const expected = journalKeys(journal);
        return expected.length > 0 && firstArrivals(receiver.events).length === expected.length;
      };

      expect(await askMany(bridge, token, 'healthy', 3)).toEqual([200, 200, 200]);
      await waitUntil(allArrived);

      // The receiver fails every batch with a 500.
      receiver.mode = 'fail';
      expect(await askMany(bridge, token, 'while failing', 3)).toEqual([200, 200, 200]);
      await waitUntil(() => receiver.counts.failed >= 2);

      // It accepts the connection and never answers: requests are still served.
      receiver.mode = 'hang';
      await waitUntil(() => receiver.counts.hanging >= 1);
      expect(await askMany(bridge, token, 'while hung', 3)).toEqual([200, 200, 200]);

      // It goes away: connections are refused.
      await receiver.stop();
      const errorsBefore = await metric(bridge, 'aibridge_audit_sink_errors_total');
      expect(await askMany(bridge, token, 'while refused', 3)).toEqual([200, 200, 200]);
      await waitUntil(async () => (await metric(bridge, 'aibridge_audit_sink_errors_total')) > errorsBefore);
      expect(await metric(bridge, 'aibridge_audit_sink_lag_records')).toBeGreaterThan(0);
      // The store shipper is not held back by the sink.
      await bridge.ctx.recorder.flush();
      expect(await store.audit.count({ initiator_id: userId })).toBe(12);

      receiver.mode = 'ok';
      await receiver.listen();
      await waitUntil(allArrived);
      expect(firstArrivals(receiver.events)).toEqual(journalKeys(journal));
      expect(receiver.counts.refused).toBe(0);
      const prompts = receiver.events.filter((e) => e.kind === 'user_prompt');
      expect(new Set(prompts.map((e) => e.record.prompt)).size).toBe(12);
      expect(receiver.events.every((e) => e.initiator?.id === userId)).toBe(true);
      await waitUntil(async () => (await metric(bridge, 'aibridge_audit_sink_lag_records')) === 0);

      // The sink's secrets (its header, the URL's query) are in no log line.
      expect(bridge.logs.text).toContain('audit sink: delivery failed');
      expect(bridge.logs.text).toContain('audit sink: delivering again');
      expect(bridge.logs.text).not.toContain(TOKEN);
      expect(bridge.logs.text).not.toContain('tenant=acme');
    } finally {
      await bridge.close();
      await receiver.stop();
    }
  });

  it('delivers after a restart what was journaled while it was down, and finds an initiator the journal no longer shows', async () => {
    const dataDir = tempDir();
    const port = await freePort(); // nothing listens yet: every delivery is refused
    const first = await startTestBridge(store, bridgeConfig(dataDir, port));
    const { token, id: userId } = await first.user('restart-dev');
    expect(await askMany(first, token, 'before restart', 4)).toEqual([200, 200, 200, 200]);
    await first.ctx.recorder.flush();
    await first.close();
    const journal = join(dataDir, 'journal');
    const journaledBefore = journalKeys(journal);
    expect(journaledBefore.length).toBeGreaterThanOrEqual(8);

    // Resume just after the first interception's own record: its children come first, and their
    // initiator is known only to the store.
    const firstFile = readdirSync(journal)
      .filter((f) => f.startsWith('journal-'))
      .sort()[0] as string;
    const firstSegment = Number(/\d+/.exec(firstFile)?.[0]);
    const firstLine = readFileSync(join(journal, firstFile), 'utf8').split('\n')[0] as string;
    writeFileSync(
      checkpointFile(journal, 'siem'),
      JSON.stringify({ segment: firstSegment, offset: Buffer.byteLength(firstLine) + 1 }),
    );

    const receiver = await AuditReceiver.start(port, TOKEN);
    const second = await startTestBridge(store, bridgeConfig(dataDir, port));
    try {
      expect(await askMany(second, token, 'after restart', 2)).toEqual([200, 200]);
      const expected = [
        ...journaledBefore.slice(1),
        ...journalKeys(journal).filter((k) => !journaledBefore.includes(k)),
      ];
      await waitUntil(() => firstArrivals(receiver.events).length >= expected.length);
      expect(firstArrivals(receiver.events)).toEqual(expected);
      const child = receiver.events[0];
      expect(child.kind).not.toBe('interception');
      expect(child.initiator).toEqual({ id: userId });
      expect(receiver.events.every((e) => e.initiator?.id === userId)).toBe(true);
      // Once the sink and the store are both past it, the first run's segment is deleted.
      await waitUntil(() => !existsSync(join(journal, firstFile)));
    } finally {
      await second.close();
      await receiver.stop();
    }
  });
});
