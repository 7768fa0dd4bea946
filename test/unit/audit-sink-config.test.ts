import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffConfig } from '../../src/config/diff.ts';
import { ConfigError, validateConfig } from '../../src/config/load.ts';
import { sinkName, syslogAddress } from '../../src/recorder/sinks/settings.ts';
import { workerPath } from '../../src/recorder/sinks/sinks.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-sink-config-');

function problemsOf(audit_sinks: unknown[]): string[] {
  try {
    validateConfig({ audit_sinks }, 'test', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('audit_sinks configuration', () => {
  it('fills each type’s defaults, and only its own', () => {
    const config = validateConfig(
      {
        audit_sinks: [
          { type: 'file', path: './audit.ndjson' },
          { type: 'syslog', url: 'tcp://siem.example.com:6514', tls: true },
          { type: 'webhook', name: 'siem', url: 'https://siem.example.com/ingest' },
        ],
      },
      'test',
      {},
    );
    expect(config.audit_sinks).toEqual([
      {
        type: 'file',
        path: './audit.ndjson',
        max_bytes: '100MiB',
        keep: 10,
        max_backlog_bytes: '1GiB',
        retry_max: '30s',
      },
      { type: 'syslog', url: 'tcp://siem.example.com:6514', tls: true, max_backlog_bytes: '1GiB', retry_max: '30s' },
      {
        type: 'webhook',
        name: 'siem',
        url: 'https://siem.example.com/ingest',
        headers: {},
        timeout: '10s',
        max_backlog_bytes: '1GiB',
        retry_max: '30s',
      },
    ]);
    expect(config.audit_sinks.map(sinkName)).toEqual(['file-0', 'syslog-1', 'siem']);
    expect(validateConfig({}, 'test', {}).audit_sinks).toEqual([]);
  });

  it('names what the schema refuses by its path', () => {
    expect(
      problemsOf([{ type: 'file' }, { type: 'kafka' }, { type: 'webhook' }, { type: 'file', path: 'a', keep: -1 }]),
    ).toEqual(
      expect.arrayContaining([
        'audit_sinks[0].path: is required',
        'audit_sinks[1].type: must be one of "file", "syslog", "webhook"',
        'audit_sinks[2].url: is required',
        'audit_sinks[3].keep: must be at least 0',
      ]),
    );
    expect(problemsOf([{ type: 'file', path: 'a', colour: 'red' }])).toEqual([
      'audit_sinks[0].colour: is not a known setting',
    ]);
  });

  it('names what only the loader sees: another type’s setting, a bad address, an unreadable CA, a clash of names, sizes', () => {
    const dir = tempDir();
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    expect(
      problemsOf([
        { type: 'syslog', url: 'udp://siem:514', path: './x.ndjson' },
        { type: 'webhook', url: 'ftp://siem/ingest', headers: { Authorization: 'Bearer x' } },
        { type: 'syslog', url: 'tcp://siem:6514', tls: true, ca: join(dir, 'missing.pem') },
        { type: 'syslog', url: 'tcp://siem:6514', tls: true, ca },
        { type: 'file', name: 'syslog-0', path: './a.ndjson', max_backlog_bytes: '10KiB', max_bytes: 10 },
      ]),
    ).toEqual([
      'audit_sinks[0].path: is not a setting of a syslog sink',
      'audit_sinks[0].url: must be tcp://host:port',
      'audit_sinks[1].url: must be an http:// or https:// URL',
      'audit_sinks[2].ca: cannot be read (ENOENT)',
      'audit_sinks[4].name: "syslog-0" is also the name of audit_sinks[0]',
      'audit_sinks[4].max_backlog_bytes: must be at least 1MiB',
      'audit_sinks[4].max_bytes: must be at least 1KiB',
    ]);
  });

  it('reads syslog addresses, with the usual port when none is given', () => {
    expect(syslogAddress('tcp://siem.example.com:1514', false)).toEqual({ host: 'siem.example.com', port: 1514 });
    expect(syslogAddress('tcp://siem.example.com', false)).toEqual({ host: 'siem.example.com', port: 514 });
    expect(syslogAddress('tcp://siem.example.com', true)).toEqual({ host: 'siem.example.com', port: 6514 });
    expect(syslogAddress('tcp://[::1]:6514', true)).toEqual({ host: '::1', port: 6514 });
    expect(() => syslogAddress('tcp://siem/path', false)).toThrow();
  });

  it('gives each worker a file of its own', () => {
    expect(workerPath('/var/log/audit.ndjson')).toBe('/var/log/audit.ndjson');
    expect(workerPath('/var/log/audit.ndjson', 2)).toBe('/var/log/audit-worker-2.ndjson');
    expect(workerPath('/var/log/audit', 3)).toBe('/var/log/audit-worker-3');
  });

  it('is read at start-up: a reload that changes it keeps the running sinks and says a restart is needed', () => {
    const running = validateConfig({ audit_sinks: [{ type: 'file', path: './a.ndjson' }] }, 'test', {});
    const next = validateConfig({ audit_sinks: [{ type: 'file', path: './b.ndjson' }] }, 'test', {});
    const { effective, changes } = diffConfig(running, next);
    expect(effective.audit_sinks).toEqual(running.audit_sinks);
    expect(changes.needRestart).toContain('audit_sinks');
  });
});
