/**
 * The embedded store's usage_days table: filled from the interceptions already there when a
 * file written before it existed is opened, and moved by the triggers from then on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import type { InterceptionRecord } from '../../src/store/records.ts';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function interception(i: number): InterceptionRecord {
  const started_at = new Date(Date.UTC(2026, 5, 1 + (i % 3), i % 24));
  return {
    _id: `i-${i}`,
    initiator_id: `user-${i % 2}`,
    api_key_id: 'key',
    provider: 'openai',
    provider_name: 'openai',
    model: i % 2 ? 'gpt-5' : 'gpt-5-mini',
    client: 'Codex',
    user_agent: null,
    client_session_id: null,
    started_at,
    ended_at: i % 5 ? new Date(started_at.getTime() + 1_000) : null,
    status: i % 5 ? (i % 7 ? 'completed' : 'failed') : null,
    cost_usd: i % 5 ? 0.25 : null,
    totals:
      i % 5
        ? { input_tokens: i, output_tokens: 1, cache_read_input_tokens: 0, cache_write_input_tokens: 0, tool_calls: 0 }
        : null,
    metadata: {},
  };
}

const rollup = (file: string) => {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return db.prepare('SELECT * FROM usage_days ORDER BY day, initiator_id, model, status').all();
  } finally {
    db.close();
  }
};

describe('usage_days (embedded store)', () => {
  it('is filled from existing interceptions when a schema-1 file is opened, as the triggers would have', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aibridge-usage-days-'));
    dirs.push(dir);
    const file = join(dir, 'aibridge.db');
    const docs = Array.from({ length: 60 }, (_, i) => interception(i));

    const live = openEmbeddedStore(dir, 'inline');
    await live.records.write(docs.map((doc) => ({ kind: 'interception', doc })));
    await live.close();
    const kept = rollup(file);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.reduce((n, row) => n + (row.interceptions as number), 0)).toBe(60);

    // As a schema-1 file: no table, no triggers.
    const db = new DatabaseSync(file);
    db.exec(`DROP TABLE usage_days; DROP TRIGGER usage_days_insert; DROP TRIGGER usage_days_delete;
      DROP TRIGGER usage_days_update; PRAGMA user_version = 1;`);
    db.close();

    const upgraded = openEmbeddedStore(dir, 'inline');
    expect(rollup(file)).toEqual(kept);
    expect(await upgraded.audit.count({})).toBe(60);
    expect(await upgraded.audit.count({ status: 'running' })).toBe(12);
    const [sum] = await upgraded.audit.usage({}, []);
    expect(sum).toMatchObject({ interceptions: 48, failed: docs.filter((d) => d.status === 'failed').length });
    expect(sum?.cost_usd).toBeCloseTo(12);
    // Opened again (or by a second process), it is not filled twice.
    await upgraded.close();
    const again = openEmbeddedStore(dir, 'inline');
    expect(rollup(file)).toEqual(kept);
    await again.close();
  });

  it('keeps no row for a day whose interceptions were all purged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aibridge-usage-days-'));
    dirs.push(dir);
    const store = openEmbeddedStore(dir, 'inline');
    await store.records.write([0, 1, 2].map((i) => ({ kind: 'interception', doc: interception(i) })));
    await store.records.purge(new Date(Date.UTC(2026, 5, 3)), 100);
    await store.close();
    const rows = rollup(join(dir, 'aibridge.db'));
    expect(rows.map((row) => new Date((row.day as number) * 86_400_000).toISOString().slice(0, 10))).toEqual([
      '2026-06-03',
    ]);
  });
});
