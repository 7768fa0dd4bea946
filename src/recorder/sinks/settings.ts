import { readFileSync } from 'node:fs';
import { parseByteSize } from '../sanitize.ts';

/** Settings every `audit_sinks` entry has (README "Audit sinks"). */
interface AuditSinkCommon {
  /** Names its checkpoint and metric label; default `<type>-<index>`. */
  name?: string;
  /** Bytes, or `512MiB` / `1GiB`. */
  max_backlog_bytes: string | number;
  retry_max: string;
}
export interface FileSinkConfig extends AuditSinkCommon {
  type: 'file';
  path: string;
  max_bytes: string | number;
  keep: number;
}
export interface SyslogSinkConfig extends AuditSinkCommon {
  type: 'syslog';
  /** `tcp://host:port`. */
  url: string;
  tls: boolean;
  /** A PEM file of certificates trusted instead of the system's. */
  ca?: string;
}
export interface WebhookSinkConfig extends AuditSinkCommon {
  type: 'webhook';
  url: string;
  headers: Record<string, string>;
  timeout: string;
}
export type AuditSinkConfig = FileSinkConfig | SyslogSinkConfig | WebhookSinkConfig;

const COMMON = ['type', 'name', 'max_backlog_bytes', 'retry_max'];
/** The settings each type takes besides the common ones. */
const OWN: Record<AuditSinkConfig['type'], string[]> = {
  file: ['path', 'max_bytes', 'keep'],
  syslog: ['url', 'tls', 'ca'],
  webhook: ['url', 'headers', 'timeout'],
};
const MIN_BACKLOG_BYTES = 1024 * 1024;
const SYSLOG_PORTS = { tcp: 514, tls: 6514 };

/** A sink's name: its own, or `<type>-<index>`. */
export const sinkName = (sink: AuditSinkConfig, index: number) => sink.name ?? `${sink.type}-${index}`;

/** `tcp://host:port` → host and port (the usual one for plain TCP or TLS when none is given). */
export function syslogAddress(url: string, tls: boolean): { host: string; port: number } {
  const parsed = new URL(url);
  if (parsed.protocol !== 'tcp:' || !parsed.hostname || parsed.pathname.replace(/^\/$/, '') || parsed.search) {
    throw new SyntaxError('must be tcp://host:port');
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: parsed.port ? Number(parsed.port) : tls ? SYSLOG_PORTS.tls : SYSLOG_PORTS.tcp };
}

/** The `audit_sinks` problems the schema cannot see, by path, for the config loader. */
export function auditSinkProblems(sinks: readonly AuditSinkConfig[]): string[] {
  const problems: string[] = [];
  const names = new Map<string, number>();
  sinks.forEach((sink, i) => {
    const at = `audit_sinks[${i}]`;
    const name = sinkName(sink, i);
    if (names.has(name)) problems.push(`${at}.name: "${name}" is also the name of audit_sinks[${names.get(name)}]`);
    names.set(name, i);
    for (const key of Object.keys(sink)) {
      if (!COMMON.includes(key) && !OWN[sink.type].includes(key))
        problems.push(`${at}.${key}: is not a setting of a ${sink.type} sink`);
    }
    if (parseByteSize(sink.max_backlog_bytes) < MIN_BACKLOG_BYTES)
      problems.push(`${at}.max_backlog_bytes: must be at least 1MiB`);
    if (sink.type === 'file' && parseByteSize(sink.max_bytes) < 1024)
      problems.push(`${at}.max_bytes: must be at least 1KiB`);
    if (sink.type === 'syslog') {
      try {
        syslogAddress(sink.url, sink.tls);
      } catch {
        problems.push(`${at}.url: must be tcp://host:port`);
      }
      if (sink.ca !== undefined) {
        try {
          readFileSync(sink.ca);
        } catch (err) {
          problems.push(`${at}.ca: cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`);
        }
      }
    }
    if (sink.type === 'webhook' && !/^https?:\/\//.test(sink.url))
      problems.push(`${at}.url: must be an http:// or https:// URL`);
  });
  return problems;
}
