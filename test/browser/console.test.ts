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
    await expect.poll(() => p.getByText('Own budget: $25.00 per week.').count()).toBe(1);
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

/** Boxes of what a selector finds, in CSS pixels, as the browser laid them out. */
interface Box {
  left: number;
  right: number;
  top: number;
  bottom: number;
  text: string;
}
const boxes = (p: Page, selector: string): Promise<Box[]> =>
  p.locator(selector).evaluateAll((els) =>
    els.map((el) => {
      const r = el.getBoundingClientRect();
      return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: el.textContent ?? '' };
    }),
  );
const TOLERANCE = 0.5;
const inside = (a: Box, b: Box) =>
  a.left >= b.left - TOLERANCE &&
  a.right <= b.right + TOLERANCE &&
  a.top >= b.top - TOLERANCE &&
  a.bottom <= b.bottom + TOLERANCE;
const overlap = (a: Box, b: Box) =>
  a.left < b.right - TOLERANCE &&
  b.left < a.right - TOLERANCE &&
  a.top < b.bottom - TOLERANCE &&
  b.top < a.bottom - TOLERANCE;
/** Pairs of boxes that overlap, named by their text. */
const collisions = (list: Box[]) =>
  list.flatMap((a, i) =>
    list
      .slice(i + 1)
      .filter((b) => overlap(a, b))
      .map((b) => `${a.text} × ${b.text}`),
  );

/** Every chart on the page: its text whole inside it, no two labels on top of each other, no tick twice. */
async function expectChartsReadable(p: Page): Promise<void> {
  const charts = p.locator('svg.chart');
  const count = await charts.count();
  expect(count).toBeGreaterThan(0);
  for (let i = 0; i < count; i++) {
    const chart = charts.nth(i);
    const [frame] = await boxes(p, `svg.chart >> nth=${i}`);
    const texts = await chart.locator('text').evaluateAll((els) =>
      els.map((el) => {
        const r = el.getBoundingClientRect();
        return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: el.textContent ?? '' };
      }),
    );
    expect(texts.length).toBeGreaterThan(0);
    for (const t of texts)
      expect(inside(t, frame!), `"${t.text}" clipped by its chart ${JSON.stringify([t, frame])}`).toBe(true);
    expect(collisions(texts)).toEqual([]);
    const yLabels = await chart.locator('text.y-label').allTextContents();
    expect(new Set(yLabels).size, `repeated ticks: ${yLabels.join(' ')}`).toBe(yLabels.length);
    // Text reads at a size a person can read, whatever the chart's scale.
    const [fontPx] = await chart
      .locator('text')
      .evaluateAll((els) => els.slice(0, 1).map((el) => el.getBoundingClientRect().height));
    expect(fontPx).toBeGreaterThanOrEqual(10);
  }
}

describe('one interception’s figures agree on every page', () => {
  it('shows input as every prompt token read, 270 in · 40 out, on the list, its page, its calls and its timeline', async () => {
    const p = await page();
    await signIn(p, world.url, world.dev.token);
    await go(p, `#/interceptions?q=session:${world.cachedSession}`);
    const link = p.getByRole('link', { name: `Interception ${world.cachedId}` });
    await link.waitFor();
    const row = p.locator('tr', { has: link });
    expect(await row.textContent()).toContain('270 / 40');
    expect(await row.locator('span[title]').getAttribute('title')).toBe(
      'input: 200 uncached · 40 cache read · 30 cache write',
    );

    await link.click();
    const facts = p.locator('dl.facts');
    await facts.waitFor();
    const tokens = await facts.locator('dt:text-is("Tokens") + dd').textContent();
    expect(tokens).toBe('270 in · 40 out · input: 200 uncached · 40 cache read · 30 cache write');

    const calls = p.getByRole('table', { name: 'Upstream calls' });
    const headers = await calls.locator('th').allTextContents();
    const column = (name: string) =>
      calls.locator(`tbody td:nth-child(${headers.indexOf(name) + 1})`).allTextContents();
    expect(await column('Input')).toEqual(['135', '135']);
    expect(await column('Uncached')).toEqual(['100', '100']);
    expect(await column('Output')).toEqual(['25', '15']);

    const events = await p.locator('.events li').allTextContents();
    const responses = events.filter((e) => e.includes('Upstream response'));
    expect(responses).toEqual([
      '+7 msUpstream response 1: 135 in · 25 out',
      '+30 msUpstream response 2: 135 in · 15 out',
    ]);
    // Cause before effect: the tool the first response asked for comes after it.
    const echo = events.findIndex((e) => e.includes('Tool echo ran for 10 ms'));
    expect(echo).toBeGreaterThan(events.indexOf(responses[0]!));
    expect(echo).toBeLessThan(events.indexOf(responses[1]!));
  });

  it('gives a session the same tokens and span on the sessions list and on its page', async () => {
    const p = await page();
    await signIn(p, world.url, world.dev.token);
    await go(p, '#/sessions');
    const link = p.getByRole('link', { name: world.cachedSession });
    await link.waitFor();
    const cells = await p.locator('tr', { has: link }).locator('td').allTextContents();
    expect(cells).toContain('870 / 120');
    expect(cells).toContain('219 ms'); // first start to the latest turn's end

    await link.click();
    const facts = p.locator('dl.facts');
    await facts.waitFor();
    expect(await facts.locator('dt:text-is("Span") + dd').textContent()).toBe('219 ms');
    expect(await facts.locator('dt:text-is("Tokens") + dd').textContent()).toBe(
      '870 in · 120 out · input: 700 uncached · 140 cache read · 30 cache write',
    );
    const turns = p.getByRole('list', { name: 'Turns' }).locator(':scope > li');
    await expect.poll(() => turns.count()).toBe(2);
    expect(await turns.nth(0).textContent()).toContain('270 in · 40 out');
    expect(await turns.nth(1).textContent()).toContain('600 in · 80 out');
  });
});

describe('on a phone (390 px)', () => {
  for (const scheme of ['light', 'dark'] as const) {
    it(`keeps the nav, the charts, a wide table and the timeline whole and readable (${scheme})`, async () => {
      const p = await page(PHONE);
      await p.emulateMedia({ colorScheme: scheme });
      await signIn(p, world.url, world.owner.token);
      await go(p, '#/overview?range=30d');
      await p.getByRole('table', { name: 'Top models' }).waitFor();

      // The nav: every section in sight, none cut, none on another.
      const [viewport] = await boxes(p, 'html');
      const [nav] = await boxes(p, 'nav.nav');
      const links = await boxes(p, 'nav.nav a');
      expect(links.map((l) => l.text)).toEqual(['Overview', 'Interceptions', 'Sessions', 'Users', 'Teams', 'Me']);
      for (const link of links) {
        expect(inside(link, nav!), `${link.text} cut by the nav`).toBe(true);
        expect(link.right, `${link.text} off the screen`).toBeLessThanOrEqual(PHONE.width);
        expect(link.left).toBeGreaterThanOrEqual(0);
      }
      expect(collisions(links)).toEqual([]);
      expect(await p.locator('nav.nav').evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
      expect(viewport!.right).toBeLessThanOrEqual(PHONE.width);

      // The charts: ticks whole and distinct, day labels apart.
      await expectChartsReadable(p);
      await screenshot(p, `overview-phone${scheme === 'dark' ? '-dark' : ''}`);

      // A wide table: it says it scrolls, and the keyboard scrolls it.
      await go(p, '#/interceptions');
      const wrap = p.getByRole('region', { name: 'Interceptions, scrolls sideways' });
      await wrap.waitFor();
      expect(await wrap.evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true);
      expect(await wrap.evaluate((el) => getComputedStyle(el).backgroundImage)).toContain('radial-gradient');
      const hint = p.getByText('Scroll sideways for more →');
      expect(await hint.isVisible()).toBe(true);
      const [hintBox] = await boxes(p, '.scroll-hint:visible');
      expect(hintBox!.right).toBeLessThanOrEqual(PHONE.width);
      expect(await wrap.getAttribute('tabindex')).toBe('0');
      await wrap.focus();
      for (let i = 0; i < 5; i++) await p.keyboard.press('ArrowRight');
      await expect.poll(() => wrap.evaluate((el) => el.scrollLeft)).toBeGreaterThan(0);
      await screenshot(p, `interceptions-phone${scheme === 'dark' ? '-dark' : ''}`);

      // The timeline: lane names clear of the lanes, every label whole, nothing on top of another.
      await go(p, `#/interceptions/${world.cachedId}`);
      const strip = p.locator('svg.timeline');
      await strip.waitFor();
      const [frame] = await boxes(p, 'svg.timeline');
      const names = await boxes(p, 'svg.timeline text.lane-name');
      const lanes = await boxes(p, 'svg.timeline rect.lane');
      const labels = await boxes(p, 'svg.timeline text');
      expect(names.map((n) => n.text)).toEqual(['Prompt', 'Model', 'Tools']);
      for (const name of names) expect(name.right).toBeLessThanOrEqual(lanes[0]!.left + TOLERANCE);
      for (const label of labels)
        expect(inside(label, frame!), `"${label.text}" clipped ${JSON.stringify([label, frame])}`).toBe(true);
      expect(collisions(labels)).toEqual([]);
      expect(Math.min(...labels.map((l) => l.bottom - l.top))).toBeGreaterThanOrEqual(10);
      expect(frame!.right).toBeLessThanOrEqual(PHONE.width);
      await p.getByRole('heading', { name: 'Timeline' }).evaluate((el) => el.scrollIntoView());
      await screenshot(p, `timeline-phone${scheme === 'dark' ? '-dark' : ''}`);
    });
  }
});

describe('the smaller things', () => {
  it('names top tools by their configured server, marks a deleted user, and prints a tiny budget with its digits', async () => {
    const p = await page();
    await signIn(p, world.url, world.owner.token);
    await go(p, '#/overview?range=30d');
    const tools = p.getByRole('table', { name: 'Top tools' });
    await tools.waitFor();
    expect(await tools.textContent()).toContain('echo · test');
    expect(await tools.textContent()).not.toMatch(/127\.0\.0\.1/);
    const former = p.getByRole('table', { name: 'Top users' }).locator('tr', { hasText: 'former' });
    expect(await former.textContent()).toContain('deleted');

    const patch = await fetch(`${world.url}/api/v2/aibridge/users/alice`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${world.owner.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ budget: { usd: 0.00001, period: 'month' } }),
    });
    expect(patch.status).toBe(200);
    try {
      await go(p, '#/users');
      const row = p.getByRole('table', { name: 'Users' }).locator('tr', { hasText: 'alice' });
      await expect.poll(() => row.textContent()).toContain('$0.00001 / month');
    } finally {
      await fetch(`${world.url}/api/v2/aibridge/users/alice/budget`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${world.owner.token}` },
      });
    }
  });

  it('offers no MCP credentials form on a bridge where no server takes per-user credentials', async () => {
    const p = await page();
    // This bridge has one (personal); the page learns which from /readyz, answered here as a bridge without one.
    await p.route('**/readyz', (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ mcp_servers: {} }) }),
    );
    await signIn(p, world.url, world.alice.token);
    await go(p, '#/me');
    await p.getByRole('table', { name: 'your tokens' }).waitFor();
    await expect.poll(() => p.getByRole('heading', { name: 'My tokens' }).count()).toBe(1);
    expect(await p.getByRole('heading', { name: 'My MCP credentials' }).count()).toBe(0);
    expect(await p.getByRole('button', { name: 'Save headers' }).count()).toBe(0);
  });
});
