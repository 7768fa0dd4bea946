/**
 * Audit sinks under `aibridge server --workers 2`: each worker feeds the sink from its own
 * journal, with its own checkpoint, and the file sink writes a file per worker.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointFile } from '../../src/recorder/sinks/checkpoint.ts';
import { journalKeys } from '../helpers/audit-receiver.ts';
import { CLI, NODE, ROOT, waitForOutput, waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-sink-workers-');

const events = (file: string): any[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line))
    : [];

describe('audit sinks with --workers 2', () => {
  let upstream: ReplayUpstream;
  let child: ChildProcess;
  let dir: string;
  let url: string;
  let token: string;

  beforeAll(async () => {
    upstream = await ReplayUpstream.start();
    upstream.keepRequests = false;
    upstream.setDefault('openai-chat/text.json');
    dir = tempDir();
    const config = join(dir, 'aibridge.yaml');
    writeFileSync(
      config,
      [
        'listen: 127.0.0.1:0',
        `data_dir: ${join(dir, 'data')}`,
        'retention: 0',
        'providers:',
        `  - { name: openai, type: openai, base_url: "${upstream.url}/v1", api_key: sk-upstream }`,
        'audit_sinks:',
        `  - { type: file, name: archive, path: "${join(dir, 'audit.ndjson')}" }`,
      ].join('\n'),
    );
    child = spawn(NODE, [CLI, 'server', '--config', config, '--workers', '2'], { cwd: ROOT, stdio: 'pipe' });
    const seen = await waitForOutput(child, /OPENAI_API_KEY=\S+\n/);
    url = /OPENAI_BASE_URL=(http:\/\/\S+)\/openai\/v1/.exec(seen)?.[1] as string;
    token = /OPENAI_API_KEY=(\S+)/.exec(seen)?.[1] as string;
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await upstream?.close();
  });

  it('writes each worker’s records, in its journal’s order, to a file of its own', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        fetch(`${url}/openai/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' },
          body: JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: `hi ${i}` }] }),
        }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        }),
      ),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);

    const workers = [1, 2].map((n) => ({
      n,
      journal: join(dir, 'data', 'journal', `worker-${n}`),
      file: join(dir, `audit-worker-${n}.ndjson`),
    }));
    const prompts = () => workers.flatMap((w) => events(w.file)).filter((e) => e.kind === 'user_prompt');
    await waitUntil(() => prompts().length === 12, 20_000);
    for (const w of workers) {
      const written = events(w.file);
      expect(written.length, `worker ${w.n} served some`).toBeGreaterThan(0);
      expect(written.map((e) => `${e.kind}:${e.id}`)).toEqual(journalKeys(w.journal));
      expect(written.every((e) => e.bridge.worker === w.n)).toBe(true);
      expect(existsSync(checkpointFile(w.journal, 'archive'))).toBe(true);
    }
    expect(new Set(prompts().map((e) => e.record.prompt)).size).toBe(12);

    // A clean stop: each worker stops its sink after its recorder.
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
