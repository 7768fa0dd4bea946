import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';
import { Journal } from '../../src/recorder/journal.ts';
import { checkpointFile } from '../../src/recorder/sinks/checkpoint.ts';
import { FileSink } from '../../src/recorder/sinks/file.ts';
import { Initiators } from '../../src/recorder/sinks/initiators.ts';
import { SinkRunner } from '../../src/recorder/sinks/runner.ts';
import { startAuditSinks } from '../../src/recorder/sinks/sinks.ts';
import type { SinkTransport } from '../../src/recorder/sinks/transport.ts';
import { WebhookSink } from '../../src/recorder/sinks/webhook.ts';
import type { RecordOp } from '../../src/store/records.ts';
import { LogCapture } from '../helpers/bridge.ts';
import { freePort } from '../helpers/ports.ts';
import { waitUntil } from '../helpers/process.ts';
import { interceptionRecord, promptRecord } from '../helpers/records.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-sink-runner-');

/** An interception and `prompts` prompts of it: 1 + prompts records. */
function interception(initiator: string, prompts = 1): RecordOp[] {
  const doc = interceptionRecord({ initiator_id: initiator });
  return [
    { kind: 'interception', doc },
    ...Array.from({ length: prompts }, (_, i): RecordOp => ({ kind: 'user_prompt', doc: promptRecord(doc, `p${i}`) })),
  ];
}

const idOf = (op: RecordOp) => (op.kind === 'interception_ended' ? op.id : op.doc._id);

function runner(journal: Journal, transport: SinkTransport, logs = new LogCapture(), maxBacklogBytes = 1 << 30) {
  const log = createLogger({ level: 'debug', destination: logs });
  return new SinkRunner({
    name: 'test',
    journal,
    transport,
    initiators: new Initiators(),
    bridge: { host: 'h', pid: 1 },
    log,
    maxBacklogBytes,
    retryMaxMs: 100,
  });
}

const lines = (path: string) =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .slice(0, -1)
        .map((line) => JSON.parse(line))
    : [];

/** A sink nobody answers: a webhook on a port with nothing listening. */
async function deadSink(): Promise<WebhookSink> {
  return new WebhookSink({ url: `http://127.0.0.1:${await freePort()}/ingest`, headers: {}, timeoutMs: 1_000 });
}

describe('journal holds', () => {
  it('keep segments the store has taken while a hold still needs them', () => {
    const dir = tempDir();
    let journal = new Journal(dir);
    journal.append(interception('u'));
    journal.close();
    const [first] = journal.segments() as [number];
    journal = new Journal(dir); // a restart starts a segment of its own
    let needed = { segment: first, offset: 0 };
    const release = journal.hold(() => needed);
    journal.append(interception('u'));
    journal.commit(journal.end); // the store has everything
    journal.prune();
    expect(journal.segments()).toEqual([first, first + 1]);
    needed = { segment: first + 1, offset: 0 };
    journal.prune();
    expect(journal.segments()).toEqual([first + 1]);
    release();
    journal.close();
  });

  it('count what is appended, for the sinks’ lag', () => {
    const journal = new Journal(tempDir());
    journal.append([...interception('u', 2), ...interception('v', 1)]);
    expect(journal.appended).toBe(5);
    journal.close();
  });
});

describe('sink runner', () => {
  it('starts a new sink at the journal’s end, then delivers every record in order, and resumes from its checkpoint', async () => {
    const dir = tempDir();
    const out = join(tempDir(), 'audit.ndjson');
    const journal = new Journal(dir);
    journal.append(interception('before')); // journaled before the sink existed: not sent
    const logs = new LogCapture();
    const first = runner(journal, new FileSink({ path: out, maxBytes: 1 << 20, keep: 1 }), logs);
    first.start();
    expect(logs.text).toContain('it starts with the records journaled from now on');
    const sent = [...interception('alice', 2), ...interception('bob', 1)];
    journal.append(sent);
    await waitUntil(() => lines(out).length === 5);
    expect(lines(out).map((e) => e.id)).toEqual(sent.map(idOf));
    expect(lines(out).map((e) => e.initiator?.id)).toEqual(['alice', 'alice', 'alice', 'bob', 'bob']);
    await first.stop();
    expect(JSON.parse(readFileSync(checkpointFile(dir, 'test'), 'utf8'))).toEqual(journal.end);

    // Journaled while the sink was stopped: a runner with the same name takes up where it left.
    const later = interception('carol', 1);
    journal.append(later);
    const second = runner(journal, new FileSink({ path: out, maxBytes: 1 << 20, keep: 1 }));
    second.start();
    await waitUntil(() => lines(out).length === 7);
    expect(lines(out).map((e) => e.id)).toEqual([...sent, ...later].map(idOf));
    await waitUntil(() => second.stats().lag === 0);
    expect(second.stats()).toMatchObject({ delivered: 2, errors: 0, dropped: 0 });
    await second.stop();
    journal.close();
  });

  it('sends everything the journal holds again when its checkpoint is unreadable (at least once)', async () => {
    const dir = tempDir();
    const out = join(tempDir(), 'audit.ndjson');
    const journal = new Journal(dir);
    const ops = interception('u', 3);
    journal.append(ops);
    writeFileSync(checkpointFile(dir, 'test'), '{"segm');
    const logs = new LogCapture();
    const sink = runner(journal, new FileSink({ path: out, maxBytes: 1 << 20, keep: 1 }), logs);
    sink.start();
    await waitUntil(() => lines(out).length === 4);
    expect(lines(out).map((e) => e.id)).toEqual(ops.map(idOf));
    expect(logs.text).toContain('checkpoint is unreadable');
    await sink.stop();
    journal.close();
  });

  it('counts a failing sink’s errors and lag, keeps its records, and stops at once when told', async () => {
    const dir = tempDir();
    const journal = new Journal(dir);
    const logs = new LogCapture();
    const sink = runner(journal, await deadSink(), logs);
    sink.start();
    journal.append(interception('u', 4));
    await waitUntil(() => sink.stats().errors >= 3);
    expect(sink.stats()).toMatchObject({ lag: 5, delivered: 0, dropped: 0 });
    // One warning for the outage, not one per attempt; never the URL's path.
    expect(logs.lines.filter((line) => line.includes('delivery failed'))).toHaveLength(1);
    expect(logs.text).not.toContain('/ingest');
    await sink.stop(60_000);
    const [segment] = journal.segments() as [number];
    expect(JSON.parse(readFileSync(checkpointFile(dir, 'test'), 'utf8'))).toEqual({ segment, offset: 0 });
    journal.close();
  });

  it('past max_backlog_bytes lets go of a dead sink’s oldest segments: counted, logged once as an error, deleted', async () => {
    const dir = tempDir();
    // The sink exists from the start (checkpoint at segment 1); three runs journal 3 + 5 + 2 records.
    let journal = new Journal(dir);
    const first = runner(journal, await deadSink());
    await first.stop();
    journal.append(interception('u', 2));
    journal.close();
    journal = new Journal(dir);
    journal.append(interception('u', 4));
    journal.close();
    journal = new Journal(dir);
    journal.append(interception('u', 1));
    const [s1, s2, s3] = journal.segments() as [number, number, number];
    expect([s2 - s1, s3 - s2]).toEqual([1, 1]);

    const logs = new LogCapture();
    const sink = runner(journal, await deadSink(), logs, 1); // any backlog is too much
    sink.start();
    await waitUntil(() => sink.stats().dropped > 0);
    expect(sink.stats()).toMatchObject({ dropped: 8, lag: 2 });
    const errors = logs.lines.map((line) => JSON.parse(line)).filter((line) => line.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ sink: 'test', records: 8, max_backlog_bytes: 1, resumes_at: { segment: s3 } });
    expect(errors[0].msg).toContain('let go');
    journal.commit(journal.end); // the store has everything: only the sink held the first two segments
    await waitUntil(() => readdirSync(dir).filter((f) => f.startsWith('journal-')).length === 1);
    expect(journal.segments()).toEqual([s3]);
    await sink.stop();
    journal.close();
  });
});

describe('audit sinks', () => {
  it('forget the checkpoints of sinks no longer configured, so those hold no segment', async () => {
    const dir = tempDir();
    const journal = new Journal(dir);
    writeFileSync(checkpointFile(dir, 'gone'), JSON.stringify({ segment: 1, offset: 0 }));
    const logs = new LogCapture();
    const sinks = startAuditSinks({ journal, sinks: [], log: createLogger({ destination: logs }) });
    expect(existsSync(checkpointFile(dir, 'gone'))).toBe(false);
    expect(logs.text).toContain('no longer configured');
    await sinks.stop();
    journal.close();
  });
});

describe('the webhook sink', () => {
  it('lets go of a receiver that answers 200 and then sends its body a byte at a time, for ever', async () => {
    const trickles = new Set<NodeJS.Timeout>();
    const receiver = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const drip = setInterval(() => res.write('.'), 50); // never trips the timeout between bytes
      trickles.add(drip);
      res.on('close', () => clearInterval(drip));
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as AddressInfo;
    const sink = new WebhookSink({ url: `http://127.0.0.1:${port}/ingest`, headers: {}, timeoutMs: 200 });
    try {
      // The receiver said 200: the batch is delivered, and the sink goes on without the rest of its body.
      await expect(
        sink.deliver(
          [{ kind: 'interception', time: new Date().toISOString(), json: '{}' }],
          new AbortController().signal,
        ),
      ).resolves.toBeUndefined();
    } finally {
      for (const drip of trickles) clearInterval(drip);
      await sink.close();
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
