import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { extname, resolve } from 'node:path';
import { parseDuration } from '../../duration.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Journal } from '../journal.ts';
import { parseByteSize } from '../sanitize.ts';
import { removeStaleCheckpoints } from './checkpoint.ts';
import type { BridgeIdentity } from './event.ts';
import { FileSink } from './file.ts';
import { type InitiatorLookup, Initiators } from './initiators.ts';
import { SinkRunner, type SinkStats } from './runner.ts';
import { type AuditSinkConfig, sinkName, syslogAddress } from './settings.ts';
import { SyslogSink } from './syslog.ts';
import type { SinkTransport } from './transport.ts';
import { WebhookSink } from './webhook.ts';

export interface AuditSinksOptions {
  /** This process's journal, before the recorder that appends to it starts shipping. */
  journal: Journal;
  sinks: readonly AuditSinkConfig[];
  log: Logger;
  /** Who made an interception whose record the journal no longer shows (after a restart). */
  lookupInitiator?: InitiatorLookup;
  /** Under `--workers`: this worker's number. */
  worker?: number;
}

/**
 * Every configured audit sink of one journal, each fed by its own runner. `startAuditSinks`
 * is synchronous so that each sink holds its journal segments before the recorder ships (and
 * could delete them); it also forgets the checkpoints of sinks no longer configured.
 */
export class AuditSinks {
  readonly #runners: SinkRunner[];

  constructor(runners: SinkRunner[]) {
    this.#runners = runners;
  }

  stats(): SinkStats[] {
    return this.#runners.map((runner) => runner.stats());
  }

  /** Sends what is left for up to `timeoutMs` (sinks that fail stop at once), then closes them. */
  async stop(timeoutMs = 5_000): Promise<void> {
    await Promise.all(this.#runners.map((runner) => runner.stop(timeoutMs)));
  }
}

export function startAuditSinks(options: AuditSinksOptions): AuditSinks {
  const { journal, sinks, log, worker } = options;
  const names = sinks.map(sinkName);
  for (const name of removeStaleCheckpoints(journal.dir, names)) {
    log.info({ sink: name }, 'audit sink: no longer configured; its checkpoint is removed');
  }
  const bridge: BridgeIdentity = { host: hostname(), pid: process.pid, ...(worker ? { worker } : {}) };
  const initiators = new Initiators(options.lookupInitiator);
  const runners = sinks.map(
    (sink, i) =>
      new SinkRunner({
        name: names[i] as string,
        journal,
        transport: transportOf(sink, worker),
        initiators,
        bridge,
        log,
        maxBacklogBytes: parseByteSize(sink.max_backlog_bytes),
        retryMaxMs: parseDuration(sink.retry_max),
      }),
  );
  for (const runner of runners) runner.start();
  return new AuditSinks(runners);
}

/** Under `--workers` each worker writes a file of its own: `audit.ndjson` → `audit-worker-2.ndjson`. */
export function workerPath(path: string, worker?: number): string {
  if (worker === undefined) return path;
  const ext = extname(path);
  return `${path.slice(0, path.length - ext.length)}-worker-${worker}${ext}`;
}

/** The transport a validated entry describes. */
export function transportOf(sink: AuditSinkConfig, worker?: number): SinkTransport {
  switch (sink.type) {
    case 'file':
      return new FileSink({
        path: workerPath(resolve(sink.path), worker),
        maxBytes: parseByteSize(sink.max_bytes),
        keep: sink.keep,
      });
    case 'syslog':
      return new SyslogSink({
        ...syslogAddress(sink.url, sink.tls),
        tls: sink.tls,
        ca: sink.ca === undefined ? undefined : readFileSync(sink.ca, 'utf8'),
      });
    case 'webhook':
      return new WebhookSink({ url: sink.url, headers: sink.headers, timeoutMs: parseDuration(sink.timeout) });
  }
}
