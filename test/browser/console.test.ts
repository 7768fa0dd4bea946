import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  expectClean,
  httpStatus,
  launch,
  openPage,
  PHONE,
  screenshot,
  signIn,
  violations,
  type Watched,
} from './browser.ts';
import { type ConsoleWorld, SESSION_ID, startConsoleWorld } from './world.ts';

let world: ConsoleWorld;
let browser: Browser;
/** This test's pages, checked and closed after it. */
const opened: Watched[] = [];

beforeAll(async () => {
  [world, browser] = await Promise.all([startConsoleWorld(), launch()]);
});
afterAll(async () => {
  await browser?.close();
  await world?.close();
});
// Every page, whatever the test did: no script errors, no CSP violations, no unexpected console errors.
afterEach(async () => {
  for (const w of opened.splice(0)) {
    await expectClean(w);
    await w.page.context().close();
  }
});

async function watched(viewport?: { width: number; height: number }): Promise<Watched> {
  const w = await openPage(browser, viewport);
  opened.push(w);
  return w;
}
const page = async (viewport?: { width: number; height: number }) => (await watched(viewport)).page;

const api = (path: string, token: string) =>
  fetch(`${world.url}/api/v2/aibridge${path}`, { headers: { authorization: `Bearer ${token}` } });
const heading = (p: Page) => p.getByRole('heading', { level: 1 });
const go = async (p: Page, hash: string) => {
  await p.evaluate((h) => {
    location.hash = h;
  }, hash);
};

describe('signing in', () => {
  it('Tab reaches the token field and Enter submits; the session lives only in an HttpOnly cookie', async () => {
    const p = await page();
    await p.goto(`${world.url}/`);
    await expect.poll(() => heading(p).textContent()).toBe('Sign in to AI Bridge');
    await screenshot(p, 'sign-in');
    for (let i = 0; i < 5; i++) {
      await p.keyboard.press('Tab');
      if (await p.evaluate(() => document.activeElement?.getAttribute('name') === 'token')) break;
    }
    expect(await p.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('token');
    await p.keyboard.type(world.owner.token);
    await p.keyboard.press('Enter');
    await expect.poll(() => heading(p).textContent()).toBe('Overview');

    const [cookie] = await p.context().cookies();
    expect(cookie).toMatchObject({ name: 'aibridge_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.value).not.toBe(world.owner.token); // a console token of its own, not the bridge token
    const stored = await p.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    expect(stored).not.toContain(world.owner.token);
    expect(await p.evaluate(() => document.cookie)).toBe(''); // not readable by scripts
  });

  it('a wrong token shows the API’s message and stays on the form', async () => {
    const p = await page();
    await p.goto(`${world.url}/`);
    await p.getByLabel('Bridge token').fill('aib_not-a-real-token');
    await p.getByLabel('Bridge token').press('Enter');
    await expect.poll(() => p.getByRole('alert').textContent()).toContain('invalid or expired token');
    expect(await p.getByRole('navigation').count()).toBe(0);
  });

  it('signing out revokes the console session', async () => {
    const p = await page();
    await signIn(p, world.url, world.dev.token);
    const [cookie] = await p.context().cookies();
    const asCookie = () =>
      fetch(`${world.url}/api/v2/aibridge/session`, { headers: { cookie: `aibridge_session=${cookie!.value}` } });
    expect((await asCookie()).status).toBe(200);
    await p.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => p.getByText('You are signed out.').count()).toBe(1);
    expect((await asCookie()).status).toBe(401);
  });

  it('the page’s CSP refuses inline script', async () => {
    const w = await watched();
    await w.page.goto(`${world.url}/`);
    const ran = await w.page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.__inline = true';
      document.head.append(script);
      return (window as unknown as { __inline?: boolean }).__inline === true;
    });
    expect(ran).toBe(false);
    await expect.poll(() => violations(w.page)).toEqual([expect.stringMatching(/^script-src(-elem)? inline$/)]);
    // Provoked here on purpose: forget it, and the browser's console report of it.
    await w.page.evaluate(() => (window as unknown as { __violations: string[] }).__violations.splice(0));
    w.allowed.push(/Content Security Policy/);
  });
});

describe('an owner', () => {
  // One signed-in page across this block's tests, as a person clicking through.
  let w: Watched;
  let p: Page;
  beforeAll(async () => {
    w = await openPage(browser);
    p = w.page;
    await signIn(p, world.url, world.owner.token);
  });
  afterAll(async () => {
    w.allowed.push(httpStatus(400)); // the invalid filter, on purpose
    await expectClean(w);
    await p.context().close();
  });

  it('sees spend and tokens per day, top users, models and tools on the overview', async () => {
    await go(p, '#/overview?range=30d');
    const users = p.getByRole('table', { name: 'Top users' });
    await users.waitFor();
    for (const name of ['admin', 'dev', 'alice']) expect(await users.getByRole('link', { name }).count()).toBe(1);
    expect(await p.getByRole('table', { name: 'Top models' }).textContent()).toContain('claude-sonnet-4-6');
    const tools = await p.getByRole('table', { name: 'Top tools' }).textContent();
    expect(tools).toContain('echo');
    expect(tools).toContain('get_weather');
    expect(await p.getByRole('img', { name: 'Spend per day (UTC)' }).count()).toBe(1);
    expect(await p.locator('.stat').first().textContent()).toMatch(/Spend\$\d+\.\d{2}/);
    await go(p, '#/overview');
    await p.getByRole('table', { name: 'Top users' }).waitFor();
    await screenshot(p, 'overview');
    await p.emulateMedia({ colorScheme: 'dark' });
    await screenshot(p, 'overview-dark');
    await p.emulateMedia({ colorScheme: 'light' });
  });

  it('filters interceptions with the q box and its key chips, pages, and exports CSV', async () => {
    await go(p, '#/interceptions');
    const box = p.getByRole('searchbox', { name: 'Filter' });
    await p.getByRole('table', { name: 'Interceptions' }).waitFor();
    expect(await p.getByText(/^1–50 of \d+$/).count()).toBe(1);
    await screenshot(p, 'interceptions');
    await p.getByRole('button', { name: 'Older →' }).click();
    await expect.poll(() => p.getByText(/^51–\d+ of \d+$/).count()).toBe(1);

    await p.getByRole('button', { name: 'Insert session:' }).click();
    expect(await box.inputValue()).toBe('session:');
    expect(await box.evaluate((el) => el === document.activeElement)).toBe(true);
    await p.keyboard.type(`${SESSION_ID} `);
    await p.getByRole('button', { name: 'Insert status:' }).click();
    await p.keyboard.type('failed');
    await p.keyboard.press('Enter');
    await expect.poll(() => p.evaluate(() => decodeURIComponent(location.hash))).toContain(`status:failed`);
    const rows = p.getByRole('table', { name: 'Interceptions' }).locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('failed');

    await box.fill(`session:${SESSION_ID}`);
    await box.press('Enter');
    await expect.poll(() => rows.count()).toBe(4);
    const [download] = await Promise.all([
      p.waitForEvent('download'),
      p.getByRole('button', { name: 'Export CSV' }).click(),
    ]);
    const csv = readFileSync((await download.path())!, 'utf8')
      .trim()
      .split('\r\n');
    expect(csv[0]).toMatch(/^id,started_at,/);
    expect(csv).toHaveLength(5);
    expect(csv.join('\n')).toContain('Echo something from the test server');

    await box.fill('colour:red');
    await box.press('Enter');
    await expect.poll(() => p.getByRole('alert').textContent()).toContain('colour');
  });

  it('opens an interception from the list and sees its injected tool call, upstream calls and timeline', async () => {
    await go(p, `#/interceptions?q=session:${SESSION_ID}`);
    const table = p.getByRole('table', { name: 'Interceptions' });
    await table.waitFor();
    await table.getByRole('link', { name: `Interception ${world.toolCallId}` }).click();
    const call = p.getByRole('article', { name: 'Tool call echo' });
    await call.waitFor();
    const text = await call.textContent();
    expect(text).toContain('injected');
    expect(text).toContain('"text": "hello from the model"'); // the input, pretty-printed
    expect(text).toContain('{"echoed":"hello from the model","length":20}'); // the output as recorded
    expect(await p.getByRole('table', { name: 'Upstream calls' }).locator('tbody tr').count()).toBe(2);
    expect(await p.locator('.events').textContent()).toMatch(/Tool echo ran for \d+ ms/);
    expect(await p.locator('pre.block').first().textContent()).toBe('Echo something from the test server');
    await p.getByRole('heading', { name: 'Timeline' }).evaluate((el) => el.scrollIntoView());
    await screenshot(p, 'interception');
  });

  it('sees which interceptions came through the intercepting proxy, in the list and on the page', async () => {
    await go(p, '#/interceptions?q=initiator:admin');
    const table = p.getByRole('table', { name: 'Interceptions' });
    await table.waitFor();
    const row = table.locator('tbody tr', { has: p.getByRole('link', { name: `Interception ${world.proxiedId}` }) });
    expect(await row.locator('.badge', { hasText: 'proxy' }).getAttribute('title')).toBe(
      'intercepting proxy (api.openai.com)',
    );
    await go(p, `#/interceptions/${world.proxiedId}`);
    const facts = p.locator('dl.facts');
    await facts.waitFor();
    expect(await facts.textContent()).toContain('Reached viaintercepting proxy (api.openai.com)');
    await go(p, `#/interceptions/${world.toolCallId}`);
    await expect.poll(() => p.locator('dl.facts').textContent()).toContain('Reached viadirect');
  });

  it('marks a prompt that was stored cut, and shows it redacted as recorded', async () => {
    await go(p, `#/interceptions/${world.longPromptId}`);
    await expect.poll(() => p.getByText(/^truncated · [\d.]+ KiB originally$/).count()).toBe(1);
    const text = (await p.locator('pre.block').first().textContent())!;
    expect(text).toContain('[REDACTED]');
    expect(text).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
  });

  it('reads a session as a thread, oldest turn first', async () => {
    await go(p, '#/sessions');
    await p.getByRole('link', { name: SESSION_ID }).click();
    const turns = p.getByRole('list', { name: 'Turns' }).locator(':scope > li');
    await expect.poll(() => turns.count()).toBe(4);
    expect(await turns.nth(0).textContent()).toContain('Echo something from the test server');
    expect(await turns.nth(1).textContent()).toContain('get_weather');
    expect(await turns.nth(3).textContent()).toContain('This one fails upstream');
    await screenshot(p, 'session');
    await go(p, '#/sessions');
    await p.getByRole('table', { name: 'Sessions' }).waitFor();
    await screenshot(p, 'sessions');
  });

  it('creates a user (first token shown once), changes their role and budget, and revokes their token', async () => {
    await go(p, '#/users');
    await p.getByLabel('Username').fill('carol');
    await p.getByLabel('Name', { exact: true }).fill('Carol Doe');
    await p.getByRole('button', { name: 'Create user' }).click();
    const secret = p.locator('.secret code');
    await secret.waitFor();
    const token = (await secret.textContent())!;
    expect(token).toMatch(/^aib_/);
    expect((await api('/session', token)).status).toBe(200);
    await p.getByRole('combobox', { name: 'Role of carol' }).selectOption('auditor');
    await expect.poll(() => p.getByText('Saved carol.').count()).toBe(1);
    await screenshot(p, 'users');

    await p.getByRole('link', { name: 'carol' }).click();
    await p.getByLabel('USD').fill('25');
    await p.getByLabel('Per').selectOption('week');
    await p.getByRole('button', { name: 'Set budget' }).click();
    await expect.poll(() => p.getByText('Own budget: $25 per week.').count()).toBe(1);
    await expect.poll(() => p.getByText(/of \$25\.00 this week/).count()).toBe(1);

    await p.getByRole('button', { name: 'Revoke token first token' }).click();
    const dialog = p.getByRole('dialog', { name: 'Revoke this token?' });
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => p.getByRole('table', { name: 'carol’s tokens' }).textContent()).toContain('revoked');
    expect((await api('/session', token)).status).toBe(401);
    await screenshot(p, 'user');
  });
});

describe('a member', () => {
  it('sees only their own data, and no owner pages; another user’s interception is not found', async () => {
    const w = await watched();
    const p = w.page;
    await signIn(p, world.url, world.dev.token);
    const nav = p.getByRole('navigation', { name: 'Main' });
    expect(await nav.getByRole('link').allTextContents()).toEqual([
      'Overview',
      'Interceptions',
      'Sessions',
      'Teams', // their own teams
      'Me',
    ]);
    await p.getByRole('table', { name: 'Top models' }).waitFor();
    expect(await p.getByRole('table', { name: 'Top users' }).count()).toBe(0);

    await go(p, '#/interceptions');
    const users = p.getByRole('table', { name: 'Interceptions' }).locator('tbody tr td:nth-child(2)');
    await users.first().waitFor();
    expect(new Set(await users.allTextContents())).toEqual(new Set(['dev']));
    expect(await p.getByRole('button', { name: 'Insert initiator:' }).count()).toBe(0);
    expect(await p.getByRole('button', { name: 'Insert team:' }).count()).toBe(0);

    w.allowed.push(httpStatus(404), httpStatus(403)); // the refusals this test provokes
    await go(p, `#/interceptions/${world.aliceInterceptionId}`);
    await expect.poll(() => heading(p).textContent()).toBe('Interception not found');
    expect(await p.content()).not.toContain('release notes');

    await go(p, '#/interceptions?q=initiator:alice');
    await expect.poll(() => p.getByRole('alert').textContent()).toContain('members can only see their own');

    await go(p, '#/users');
    await expect.poll(() => p.getByText('Only owners can manage users').count()).toBe(1);
  });

  it('manages their own tokens and MCP credentials and sees their budget', async () => {
    const p = await page();
    await signIn(p, world.url, world.dev.token);
    await go(p, '#/me');
    await expect.poll(() => p.getByText(/of \$5\.00 this month/).count()).toBe(1);

    await p.getByLabel('Name').fill('laptop');
    await p.getByLabel('Expires').selectOption('30d');
    await p.getByRole('button', { name: 'Create token' }).click();
    const token = (await p.locator('.secret code').textContent())!;
    expect((await api('/session', token)).status).toBe(200);
    const tokens = p.getByRole('table', { name: 'your tokens' });
    await expect.poll(() => tokens.textContent()).toContain('laptop');

    await p.getByLabel('Server').fill('personal');
    await p.getByLabel('Headers').fill('Authorization: Bearer personal-secret');
    await p.getByRole('button', { name: 'Save headers' }).click();
    const credentials = p.getByRole('table', { name: 'MCP credentials' });
    await expect.poll(() => credentials.textContent()).toContain('Authorization');
    expect(await credentials.textContent()).not.toContain('personal-secret');
    await p.getByLabel('Provider').selectOption('openai');
    await p.getByLabel('Key', { exact: true }).fill('sk-dev-own-openai-key');
    await p.getByRole('button', { name: 'Save key' }).click();
    const keys = p.getByRole('table', { name: 'Provider keys' });
    await expect.poll(() => keys.textContent()).toContain('since');
    expect(await keys.textContent()).not.toContain('sk-dev-own-openai-key');
    expect(await p.getByLabel('Key', { exact: true }).inputValue()).toBe('');
    expect((await world.h.bridge.ctx.userKeys.list(world.dev.id)).map((k) => k.provider)).toEqual(['openai']);
    await p.evaluate(() => window.scrollTo(0, 0));
    await screenshot(p, 'me');

    await p.getByRole('button', { name: 'Revoke token laptop' }).click();
    await p.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(async () => (await api('/session', token)).status).toBe(401);
  });

  it('reads well on a phone', async () => {
    const p = await page(PHONE);
    await signIn(p, world.url, world.dev.token);
    await p.getByRole('table', { name: 'Top models' }).waitFor();
    await screenshot(p, 'overview-phone');
    // Nothing but the tables' own scrolling frames is wider than the screen.
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await go(p, `#/interceptions/${world.toolCallId}`);
    await p.getByRole('article', { name: 'Tool call echo' }).waitFor();
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(p, 'interception-phone');
  });
});
