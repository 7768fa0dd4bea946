/**
 * The syslog audit sink against a real rsyslogd (Debian's `rsyslog`, and `rsyslog-openssl`
 * for TLS), started by the test as its own process: every record of real bridge traffic
 * arrives, in order, parsed by rsyslog as RFC 5424 — also across a crash of rsyslogd.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointFile } from '../../src/recorder/sinks/checkpoint.ts';
import { firstArrivals, journalKeys } from '../helpers/audit-receiver.ts';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { hasOpensslCli, serverCertificates } from '../helpers/certs.ts';
import { type TestStore, testStore } from '../helpers/db.ts';
import { freePort } from '../helpers/ports.ts';
import { waitUntil } from '../helpers/process.ts';
import { findRsyslogd, Rsyslog, rsyslogHasOpenssl } from '../helpers/rsyslog.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-audit-syslog-');
const rsyslogd = findRsyslogd();
if (!rsyslogd) console.warn('audit-syslog: rsyslogd is not installed (apt-get install -y rsyslog); skipped');
const openssl = rsyslogd !== undefined && rsyslogHasOpenssl() && hasOpensslCli();
if (rsyslogd && !openssl)
  console.warn(
    'audit-syslog: no rsyslog OpenSSL driver or openssl command (apt-get install -y rsyslog-openssl); TLS skipped',
  );

/** Answers in turn: text, thinking (non-ASCII text), a client tool call. */
const FIXTURES = [
  'anthropic-messages/text.json',
  'anthropic-messages/thinking.json',
  'anthropic-messages/client-tool.json',
];

let upstream: ReplayUpstream;
let store: TestStore;
beforeAll(async () => {
  if (!rsyslogd) return;
  upstream = await ReplayUpstream.start();
  let next = 0;
  upstream.setDefault(() => FIXTURES[next++ % FIXTURES.length] as string);
  store = await testStore('embedded', 'audit-syslog');
});
afterAll(async () => {
  await upstream?.close();
  await store?.close();
});

async function bridgeWith(dataDir: string, sinks: unknown[]): Promise<TestBridge> {
  return startTestBridge(store, {
    data_dir: dataDir,
    providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' }],
    audit_sinks: sinks,
  });
}

async function askMany(bridge: TestBridge, token: string, label: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${bridge.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': token, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'claude-sonnet-4-5',
        max_tokens: 64,
        stream: i % 2 === 1,
        messages: [{ role: 'user', content: `${label} ${i}: naïve café ✓ 😀` }],
      }),
    });
    await response.arrayBuffer();
    expect(response.status).toBe(200);
  }
}

async function metric(bridge: TestBridge, name: string, sink: string): Promise<number> {
  const text = await (await fetch(`${bridge.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{sink="${sink}"} `));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

describe.skipIf(!rsyslogd)('syslog audit sink (real rsyslogd)', () => {
  it('delivers every record of real traffic in order as RFC 5424, and again what a crash of rsyslogd may have lost', async () => {
    const dir = tempDir();
    const rsyslog = new Rsyslog(rsyslogd as string, dir, await freePort());
    await rsyslog.start();
    const dataDir = join(dir, 'data');
    const bridge = await bridgeWith(dataDir, [
      { type: 'syslog', name: 'siem', url: `tcp://127.0.0.1:${rsyslog.port}`, retry_max: '500ms' },
    ]);
    const journal = join(dataDir, 'journal');
    const allArrived = () =>
      firstArrivals(rsyslog.received().map((r) => r.event)).length === journalKeys(journal).length;
    try {
      const { token, id: userId } = await bridge.user('syslog-dev');
      await askMany(bridge, token, 'before the crash', 6);
      await waitUntil(allArrived);

      // rsyslogd dies without a word; records go on being journaled, then it comes back.
      await rsyslog.stop('SIGKILL');
      await askMany(bridge, token, 'while rsyslogd is down', 6);
      await waitUntil(async () => (await metric(bridge, 'aibridge_audit_sink_errors_total', 'siem')) > 0);
      await rsyslog.start();
      await askMany(bridge, token, 'after it came back', 3);
      await waitUntil(allArrived, 30_000);

      const received = rsyslog.received();
      expect(received.length).toBeGreaterThanOrEqual(journalKeys(journal).length); // repeats allowed: at least once
      expect(firstArrivals(received.map((r) => r.event))).toEqual(journalKeys(journal));
      const kinds = new Set(received.map((r) => r.event.kind));
      for (const kind of ['interception', 'user_prompt', 'token_usage', 'model_thought', 'tool_usage'])
        expect(kinds).toContain(kind);
      for (const r of received) {
        expect(r).toMatchObject({ app: 'aibridge', msgid: r.event.kind, procid: String(process.pid), sd: '-' });
        expect(r.hostname).toBe(hostname());
        expect(new Date(r.time).getTime()).toBe(new Date(r.event.time).getTime());
        expect(r.event.initiator).toEqual({ id: userId });
      }
      // Non-ASCII text went as \u escapes and came back whole.
      const prompts = received.filter((r) => r.event.kind === 'user_prompt').map((r) => r.event.record.prompt);
      expect(prompts).toContain('before the crash 0: naïve café ✓ 😀');
      expect(received.find((r) => r.event.kind === 'model_thought')?.event.record.content).toContain('17 × 23');

      // The last batches went less than 5 s ago, unsettled; a clean close (rsyslogd closing after
      // reading to the end) settles them: the checkpoint is at the journal's end.
      await bridge.close();
      const file = readdirSync(journal)
        .filter((f) => f.startsWith('journal-'))
        .sort()[0] as string;
      const segment = join(journal, file);
      expect(JSON.parse(readFileSync(checkpointFile(journal, 'siem'), 'utf8'))).toEqual({
        segment: Number(/\d+/.exec(file)?.[0]),
        offset: statSync(segment).size,
      });
    } finally {
      await bridge.close();
      await rsyslog.stop();
    }
  });

  it.skipIf(!openssl)(
    'over TLS: delivers to a server whose certificate names the host, and to none other',
    async () => {
      const dir = tempDir();
      const tls = serverCertificates(dir, 'localhost');
      const rsyslog = new Rsyslog(rsyslogd as string, dir, await freePort(), tls);
      await rsyslog.start();
      const dataDir = join(dir, 'data');
      const bridge = await bridgeWith(dataDir, [
        { type: 'syslog', name: 'good', url: `tcp://localhost:${rsyslog.port}`, tls: true, ca: tls.ca },
        // The same server under a name its certificate does not carry: refused by the name check.
        { type: 'syslog', name: 'wrong-name', url: `tcp://127.0.0.1:${rsyslog.port}`, tls: true, ca: tls.ca },
        // The right name, but the system's trust store: the private CA is unknown there.
        { type: 'syslog', name: 'untrusted', url: `tcp://localhost:${rsyslog.port}`, tls: true },
      ]);
      const journal = join(dataDir, 'journal');
      try {
        const { token } = await bridge.user('tls-dev');
        await askMany(bridge, token, 'over tls', 4);
        await waitUntil(() => rsyslog.received().length >= journalKeys(journal).length);
        await waitUntil(async () => (await metric(bridge, 'aibridge_audit_sink_errors_total', 'untrusted')) > 0);
        await waitUntil(async () => (await metric(bridge, 'aibridge_audit_sink_errors_total', 'wrong-name')) > 0);
        // Only the good sink got through: each record once, in order.
        expect(rsyslog.received().map((r) => `${r.event.kind}:${r.event.id}`)).toEqual(journalKeys(journal));
        expect(await metric(bridge, 'aibridge_audit_sink_errors_total', 'good')).toBe(0);
        expect(await metric(bridge, 'aibridge_audit_sink_lag_records', 'wrong-name')).toBe(journalKeys(journal).length);
        expect(bridge.logs.text).toMatch(/"sink":"wrong-name".*(altnames|IP: 127\.0\.0\.1)/);
      } finally {
        await bridge.close();
        await rsyslog.stop();
      }
    },
  );
});
