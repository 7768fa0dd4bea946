/**
 * Limits that hold across processes (README "Cost and budgets", "Limits"): with `--workers 2`
 * the two workers share one budget and one per-user rate through the store's quota ledgers, so
 * neither concurrency nor the number of processes multiplies a limit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, NODE, ROOT, runCli, waitForOutput } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-limits-workers-');

/** One request on a connection of its own, so the primary hands it to the next worker in turn. */
const chat = (url: string, token: string, i: number) =>
  fetch(`${url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({
      model: 'gpt-test-1',
      max_completion_tokens: 12,
      messages: [{ role: 'user', content: `hi ${i}` }],
    }),
  }).then(async (r) => {
    await r.arrayBuffer();
    return r.status;
  });

describe('aibridge server --workers 2: one budget and one rate limit for both workers', () => {
  let upstream: ReplayUpstream;
  let child: ChildProcess;
  let url: string;
  let configFile: string;
  const users: Record<string, string> = {};

  beforeAll(async () => {
    upstream = await ReplayUpstream.start();
    upstream.keepRequests = false;
    upstream.setDefault('openai-chat/text.json');
    const dir = tempDir();
    configFile = join(dir, 'aibridge.yaml');
    writeFileSync(
      configFile,
      [
        'listen: 127.0.0.1:0',
        `data_dir: ${join(dir, 'data')}`,
        'retention: 0',
        'providers:',
        `  - { name: openai, type: openai, base_url: "${upstream.url}/v1", api_key: sk-upstream }`,
        // $0.15 per output token; a request allows 12: it reserves $1.80, the budget pays for two.
        'pricing: [{ model: "gpt-test-*", input: 0, output: 150000 }]',
        'limits: { user_requests_per_minute: 30 }',
      ].join('\n'),
    );
    child = spawn(NODE, [CLI, 'server', '--config', configFile, '--workers', '2'], { cwd: ROOT, stdio: 'pipe' });
    const seen = await waitForOutput(child, /OPENAI_API_KEY=\S+\n/);
    url = /listening on (http:\/\/[^\s]+?)\.?\n/.exec(seen)?.[1] as string;
    for (const name of ['spender', 'caller']) {
      const created = await runCli(['users', 'create', name, '--config', configFile]);
      expect(created.code, created.stderr).toBe(0);
      users[name] = created.stdout.trim().split('\n').at(-1) as string;
    }
    const budget = await runCli(['users', 'set-budget', 'spender', '3.6', '--period', 'day', '--config', configFile]);
    expect(budget.code, budget.stderr).toBe(0);
  }, 90_000);

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await upstream?.close();
  });

  it('lets 60 requests at once spend no more than the budget, across both workers', async () => {
    const statuses = await Promise.all(Array.from({ length: 60 }, (_, i) => chat(url, users.spender as string, i)));
    const ok = statuses.filter((s) => s === 200).length;
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    // Each call costs $1.50 (10 output tokens) and reserves $1.80: two fit in $3.60, a third never.
    expect(ok).toBe(2);
  });

  it('admits at most the per-minute rate of a user across both workers', async () => {
    const minute = () => Math.floor(Date.now() / 60_000);
    const first = minute();
    const statuses = await Promise.all(Array.from({ length: 90 }, (_, i) => chat(url, users.caller as string, i)));
    const windows = minute() - first + 1; // the burst may straddle a minute boundary
    const ok = statuses.filter((s) => s === 200).length;
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    expect(ok).toBeLessThanOrEqual(30 * windows);
  });
});
