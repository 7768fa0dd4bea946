import type Anthropic from '@anthropic-ai/sdk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { waitUntil } from '../helpers/process.ts';
import { expectClean, launch, openPage, PHONE, screenshot, signIn, type Watched } from './browser.ts';

/**
 * The console shows a client tool's call beside the result the client sent back (and the time
 * between them), and a session's work context with its links — only http(s) ones as links.
 */
const SESSION = '5d0c6a8e-1b2f-4e3a-9c7d-0f1e2d3c4b5a';
const HEADERS = { 'user-agent': 'claude-cli/2.1.3 (external, cli)', 'x-claude-code-session-id': SESSION };
const PR = 'https://github.com/acme/app/pull/117';
const SNEAKY = 'javascript:alert(document.cookie)';
const NOTE = '<img src=x onerror="window.__owned=1"> fixing the login redirect';

let h: Harness;
let browser: Browser;
let asked: string;
let answered: string;
const opened: Watched[] = [];

beforeAll(async () => {
  [h, browser] = await Promise.all([startHarness('browser-results-work'), launch()]);
  const ask: Anthropic.MessageParam = { role: 'user', content: 'Weather in Paris?' };
  const tools = [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const } }];
  h.upstream.enqueue('anthropic-messages/client-tool.sse');
  const first = await h.anthropic.messages
    .stream({ model: 'claude-sonnet-4-6', max_tokens: 256, messages: [ask], tools }, { headers: HEADERS })
    .finalMessage();
  asked = (await h.records()).interception._id;
  const call = first.content.find((b) => b.type === 'tool_use');
  if (call?.type !== 'tool_use') throw new Error('no tool call');
  h.upstream.enqueue('anthropic-messages/text.json');
  await h.anthropic.messages.create(
    {
      model: 'claude-sonnet-4-6',
      max_tokens: 256,
      tools,
      messages: [
        ask,
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'Sunny, 21 °C in Paris' }] },
      ],
    },
    { headers: HEADERS },
  );
  answered = (await h.records()).interception._id;

  const client = new Client({ name: 'browser-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${h.bridge.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${h.token}`, 'x-claude-code-session-id': SESSION } },
    }),
  );
  await client.callTool({
    name: 'annotate_work',
    arguments: { repo: 'github.com/acme/app', branch: 'fix/login', pr_urls: [PR, SNEAKY], note: NOTE },
  });
  await client.close();
  await waitUntil(async () => {
    await h.bridge.ctx.recorder.flush();
    const detail = await h.store.audit.get({}, asked);
    return detail?.work?.repo === 'github.com/acme/app' && detail.tool_usages[0]?.result_at != null;
  });
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});
afterEach(async () => {
  for (const w of opened.splice(0)) {
    await expectClean(w);
    expect(await w.page.evaluate(() => (window as unknown as { __owned?: number }).__owned)).toBeUndefined();
    await w.page.context().close();
  }
});

async function signedIn(viewport?: { width: number; height: number }): Promise<Page> {
  const w = await openPage(browser, viewport);
  opened.push(w);
  await signIn(w.page, h.bridge.url, h.token);
  return w.page;
}
const go = (p: Page, hash: string) =>
  p.evaluate((target) => {
    location.hash = target;
  }, hash);

describe('a client tool’s result and the work context in the console', () => {
  it('shows the call beside its result, the time between them, and the request that carried it', async () => {
    const p = await signedIn();
    await go(p, `#/interceptions/${asked}`);
    const call = p.getByRole('article', { name: 'Tool call get_weather' });
    await call.waitFor();
    const text = (await call.textContent()) ?? '';
    expect(text).toContain('client tool');
    expect(text).toContain('"location": "Paris"'); // the input, pretty-printed
    expect(text).toContain('Sunny, 21 °C in Paris'); // the client's own result
    expect(text).toMatch(/Result after \d+(\.\d+)? (ms|s), in the next request/);
    // Side by side at desktop width: the input and the result start on the same line.
    const parts = call.locator('.pair > .part');
    expect(await parts.count()).toBe(2);
    const [a, b] = [await parts.nth(0).boundingBox(), await parts.nth(1).boundingBox()];
    expect(a!.y).toBe(b!.y);
    expect(b!.x).toBeGreaterThan(a!.x);
    expect(await call.getByRole('link', { name: 'the next request' }).getAttribute('href')).toBe(
      `#/interceptions/${answered}`,
    );
    expect(await p.locator('.events').textContent()).toMatch(
      /Model called client tool get_weather; its result came back [\d.]+ (ms|s) later/,
    );
    await call.scrollIntoViewIfNeeded();
    await screenshot(p, 'interception-client-result');
  });

  it('shows the session’s work context, linking only http(s) URLs, the note as text', async () => {
    const p = await signedIn();
    await go(p, `#/interceptions/${asked}`);
    const facts = p.locator('dl.facts');
    await facts.getByRole('link', { name: 'github.com/acme/app', exact: true }).waitFor();
    expect(await facts.getByRole('link', { name: 'github.com/acme/app', exact: true }).getAttribute('href')).toBe(
      `#/interceptions?q=${encodeURIComponent('repo:github.com/acme/app')}`,
    );
    const pr = facts.getByRole('link', { name: PR, exact: true });
    expect(await pr.getAttribute('href')).toBe(PR);
    expect(await pr.getAttribute('rel')).toContain('noopener');
    expect(await facts.getByRole('link', { name: SNEAKY, exact: true }).count()).toBe(0);
    expect(await facts.locator('code', { hasText: SNEAKY }).count()).toBe(1);
    expect(await p.locator('a[href^="javascript:"]').count()).toBe(0);

    // The annotation itself is on the interception it was made after (the caller's latest: the answer).
    await go(p, `#/interceptions/${answered}`);
    const annotations = p.getByRole('list', { name: 'Work context annotations' });
    await annotations.waitFor();
    expect(await annotations.textContent()).toContain(NOTE);
    expect(await annotations.locator('img').count()).toBe(0);

    await go(p, `#/sessions/${SESSION}?user=${h.userId}`);
    const turns = p.getByRole('list', { name: 'Turns' });
    await turns.waitFor();
    expect(await p.locator('dl.facts').textContent()).toContain('fix/login');
    const calls = turns.getByRole('list', { name: 'Tool calls' });
    expect(await calls.textContent()).toMatch(
      /get_weather client tool result after [\d.]+ (ms|s) Sunny, 21 °C in Paris/,
    );
    await screenshot(p, 'session-work-context');
  });

  it('stacks the call and its result on a phone, with nothing wider than the screen', async () => {
    const p = await signedIn(PHONE);
    await go(p, `#/interceptions/${asked}`);
    const parts = p.getByRole('article', { name: 'Tool call get_weather' }).locator('.pair > .part');
    await parts.first().waitFor();
    const [a, b] = [await parts.nth(0).boundingBox(), await parts.nth(1).boundingBox()];
    expect(b!.y).toBeGreaterThan(a!.y);
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
  });
});
