import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileSink } from '../../src/recorder/sinks/file.ts';
import type { OutgoingEvent } from '../../src/recorder/sinks/transport.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-file-sink-');

/** Events of a known size: `{"n":…,"pad":"xxx"}` of exactly `bytes` bytes with its newline. */
function events(from: number, count: number, bytes = 100): OutgoingEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const head = JSON.stringify({ n: from + i, pad: '' });
    const json = JSON.stringify({ n: from + i, pad: 'x'.repeat(bytes - 1 - head.length) });
    return { kind: 'user_prompt', time: new Date().toISOString(), json };
  });
}

/** Every line of the live file and its rotated ones, oldest first. */
function allLines(path: string, keep: number): string[] {
  const files = [...Array.from({ length: keep }, (_, i) => `${path}.${keep - i}`), path];
  return files.flatMap((file) => {
    try {
      return readFileSync(file, 'utf8').split('\n').slice(0, -1);
    } catch {
      return [];
    }
  });
}

describe('file sink', () => {
  it('rotates at max_bytes, keeps `keep` files (newest .1), never splits an event, files 0600', async () => {
    const dir = tempDir();
    const path = join(dir, 'logs', 'audit.ndjson');
    const sink = new FileSink({ path, maxBytes: 1_000, keep: 3 });
    // 10 events of 100 bytes fill a file exactly; 57 of them make 5 full files and one of 7.
    for (let n = 0; n < 57; n += 19) await sink.deliver(events(n, 19));
    await sink.close();

    expect(readdirSync(join(dir, 'logs')).sort()).toEqual([
      'audit.ndjson',
      'audit.ndjson.1',
      'audit.ndjson.2',
      'audit.ndjson.3',
    ]);
    for (const file of readdirSync(join(dir, 'logs'))) {
      const stat = statSync(join(dir, 'logs', file));
      expect(stat.mode & 0o777, file).toBe(0o600);
      expect(stat.size, file).toBeLessThanOrEqual(1_000);
    }
    const lines = allLines(path, 3);
    // The two oldest files went past `keep`; what is left is the newest 37 events, whole and in order.
    expect(lines.map((line) => JSON.parse(line).n)).toEqual(Array.from({ length: 37 }, (_, i) => 20 + i));
    expect(readFileSync(`${path}.1`, 'utf8').split('\n')[0]).toContain('"n":40');
  });

  it('gives an event larger than max_bytes a file of its own', async () => {
    const path = join(tempDir(), 'audit.ndjson');
    const sink = new FileSink({ path, maxBytes: 1_000, keep: 5 });
    await sink.deliver([...events(0, 2), ...events(2, 1, 3_000), ...events(3, 2)]);
    await sink.close();
    expect(readFileSync(`${path}.2`, 'utf8').split('\n').slice(0, -1)).toHaveLength(2);
    expect(readFileSync(`${path}.1`, 'utf8')).toHaveLength(3_000);
    expect(allLines(path, 5).map((line) => JSON.parse(line).n)).toEqual([0, 1, 2, 3, 4]);
  });

  it('appends to the file a previous run left, first ending a line a crash left torn', async () => {
    const path = join(tempDir(), 'audit.ndjson');
    writeFileSync(path, `${events(0, 1)[0]?.json}\n`);
    appendFileSync(path, '{"n":1,"pad":"xx'); // a crash mid-write
    const sink = new FileSink({ path, maxBytes: 1_000_000, keep: 1 });
    await sink.deliver(events(2, 2));
    await sink.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[1]).toBe('{"n":1,"pad":"xx');
    expect(JSON.parse(lines[2] as string).n).toBe(2);
    expect(JSON.parse(lines[3] as string).n).toBe(3);
  });

  it('with keep 0 starts the file over instead of keeping rotated ones', async () => {
    const dir = tempDir();
    const path = join(dir, 'audit.ndjson');
    const sink = new FileSink({ path, maxBytes: 1_000, keep: 0 });
    await sink.deliver(events(0, 25));
    await sink.close();
    expect(readdirSync(dir)).toEqual(['audit.ndjson']);
    expect(allLines(path, 0).map((line) => JSON.parse(line).n)).toEqual([20, 21, 22, 23, 24]);
  });

  it('fails a batch it cannot write (the runner sends it again), and writes again once it can', async () => {
    const dir = tempDir();
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    const sink = new FileSink({ path: join(blocker, 'audit.ndjson'), maxBytes: 1_000, keep: 1 });
    await expect(sink.deliver(events(0, 1))).rejects.toThrow(/ENOTDIR|EEXIST/);
    rmSync(blocker);
    mkdirSync(blocker);
    await sink.deliver(events(0, 1));
    await sink.close();
    expect(allLines(join(blocker, 'audit.ndjson'), 1).map((line) => JSON.parse(line).n)).toEqual([0]);
  });
});
