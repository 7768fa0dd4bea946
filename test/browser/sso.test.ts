/**
 * Single sign-on and teams in the console, in Chromium: sign-in through a real OpenID provider
 * on another site (its redirect back is cross-site, as in a real deployment), the user made
 * from the claims, groups as read-only teams; an owner's team pages; an auditor limited to a
 * team seeing only its members; a budget banner; sign-out at the provider too.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RecordOp } from '../../src/store/records.ts';
import { interceptionRecord, promptRecord } from '../helpers/records.ts';
import { type SsoWorld, startSsoWorld } from '../helpers/sso-bridge.ts';
import { expectClean, httpStatus, launch, openPage, screenshot, signIn, type Watched } from './browser.ts';

const ALICE = { username: 'alice', password: 'alice-pw', email: 'alice@corp.example.com', groups: ['dev', 'security'] };
const MIA = { username: 'mia', password: 'mia-pw', email: 'mia@corp.example.com', name: 'Mia M.', groups: ['dev'] };

let world: SsoWorld;
let browser: Browser;
const opened: Watched[] = [];

beforeAll(async () => {
  [world, browser] = await Promise.all([
    // `localhost` makes the provider another site than the bridge on 127.0.0.1.
    startSsoWorld([ALICE, MIA], { issuerHost: 'localhost', overrides: { budgets: { notify: [0.8, 1] } } }),
    launch(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await world?.close();
});
afterEach(async () => {
  for (const w of opened.splice(0)) {
    await expectClean(w);
    await w.page.context().close();
  }
  expect(notFound.splice(0).filter((url) => url !== `${world.idp.issuer}/favicon.ico`)).toEqual([]);
});

/** URLs that answered 404: only the provider's favicon may (its pages have none; Chromium asks anyway). */
const notFound: string[] = [];

async function page(): Promise<Page> {
  const w = await openPage(browser);
  opened.push(w);
  w.allowed.push(httpStatus(404));
  w.page.on('response', (r) => {
    if (r.status() === 404) notFound.push(r.url());
  });
  return w.page;
}
const heading = (p: Page) => p.getByRole('heading', { level: 1 });

/** Signs in through the provider's form, as a person would. */
async function ssoSignIn(p: Page, user: { username: string; password: string }): Promise<void> {
  await p.goto(`${world.url}/`);
  await p.getByRole('link', { name: 'Sign in with SSO' }).click();
  await p.getByLabel('Username').fill(user.username);
  await p.getByLabel('Password').fill(user.password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('navigation', { name: 'Main' }).waitFor();
}

describe('single sign-on', () => {
  it('signs a person in through the provider and makes their user from the claims', async () => {
    const p = await page();
    await p.goto(`${world.url}/`);
    await p.getByRole('link', { name: 'Sign in with SSO' }).waitFor();
    await screenshot(p, 'sign-in-sso');
    await ssoSignIn(p, ALICE);
    await expect.poll(() => heading(p).textContent()).toBe('Overview');
    expect(await p.locator('.who .badge').textContent()).toBe('auditor');
    const cookie = (await p.context().cookies(world.url)).find((c) => c.name === 'aibridge_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    const user = await world.bridge.ctx.users.byUsername('alice');
    expect(user).toMatchObject({ role: 'auditor', email: 'alice@corp.example.com' });
    const teams = (await world.bridge.ctx.teams.teamsOf(user!._id)).map((t) => t.name);
    expect(teams).toEqual(['dev', 'security']);
  });

  it('updates the role and teams at the next sign-in after a group change', async () => {
    world.idp.updateUser('alice', { groups: ['dev'] });
    const p = await page();
    await ssoSignIn(p, ALICE);
    expect(await p.locator('.who .badge').textContent()).toBe('member');
    const user = await world.bridge.ctx.users.byUsername('alice');
    expect((await world.bridge.ctx.teams.teamsOf(user!._id)).map((t) => t.name)).toEqual(['dev']);
  });

  it('shows why a sign-in was refused, and signs out at the provider too', async () => {
    const refused = await page();
    world.idp.rewriteNextIdToken({ signedBy: 'foreign' });
    await refused.goto(`${world.url}/`);
    await refused.getByRole('link', { name: 'Sign in with SSO' }).click();
    // The provider remembers alice from the last test's context? A fresh context: the form again.
    await refused.getByLabel('Username').fill(ALICE.username);
    await refused.getByLabel('Password').fill(ALICE.password);
    await refused.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => refused.getByRole('alert').textContent()).toContain('failed validation');
    expect(await refused.evaluate(() => location.search)).toBe('');

    const p = await page();
    await ssoSignIn(p, MIA);
    await p.getByRole('button', { name: 'Sign out' }).click();
    // The provider ends its own session and sends the browser back to the console's sign-in.
    await p.waitForURL(/localhost:\d+\/session\/end/);
    await p.getByRole('button', { name: 'Sign out' }).click();
    await p.waitForURL(`${world.url}/`);
    await p.getByRole('link', { name: 'Sign in with SSO' }).waitFor();
    const session = (await p.context().cookies(world.url)).find((c) => c.name === 'aibridge_session');
    expect(session).toBeUndefined();
  });
});

describe('teams', () => {
  let owner: string;
  beforeAll(async () => {
    owner = world.bridge.bootstrap?.token as string;
    const mia = await world.bridge.ctx.users.byUsername('mia');
    const { token } = await world.bridge.user('ken');
    void token;
    const teams = world.bridge.ctx.teams;
    const red = await teams.create('red', { budget: { usd: 10, period: 'month' } });
    const ken = await world.bridge.ctx.users.byUsername('ken');
    await teams.add(red, ken!._id);
    // Records of mia (dev) and ken (red), and a notification of red's budget.
    const ops: RecordOp[] = [];
    for (const [who, model] of [
      [mia!._id, 'claude-sonnet-4-6'],
      [ken!._id, 'gpt-5'],
    ] as const) {
      const doc = interceptionRecord({
        initiator_id: who,
        model,
        cost_usd: 8.5,
        started_at: new Date(Date.now() - 60_000),
      });
      ops.push({ kind: 'interception', doc }, { kind: 'user_prompt', doc: promptRecord(doc, `work of ${model}`) });
    }
    await world.store.records.write(ops);
    await world.bridge.ctx.notifications.notifier.settled();
  });

  it('lets an owner see teams, a group’s team read-only, and make a team with a budget and members', async () => {
    const p = await page();
    await signIn(p, world.url, owner);
    await p.getByRole('link', { name: 'Teams' }).click();
    const list = p.getByRole('table', { name: 'Teams' });
    await list.waitFor();
    expect(await list.textContent()).toContain('single sign-on');
    await screenshot(p, 'teams');

    await list.getByRole('link', { name: 'dev' }).click();
    await p.getByRole('heading', { name: 'Members of dev' }).waitFor();
    expect(await p.getByText('Managed by single sign-on:').count()).toBe(1);
    expect(await p.getByRole('button', { name: 'Add member' }).count()).toBe(0);

    await p.getByRole('link', { name: '← Teams' }).click();
    await p.getByLabel('Name').fill('Platform Team');
    await p.getByRole('button', { name: 'Create team' }).click();
    await p.getByRole('link', { name: 'Platform Team' }).click();
    await p.getByLabel('USD').fill('25');
    await p.getByRole('button', { name: 'Set budget' }).click();
    await expect.poll(() => p.getByText('Saved Platform Team.').count()).toBe(1);
    await p.getByLabel('Username').fill('ken');
    await p.getByRole('button', { name: 'Add member' }).click();
    await p.getByRole('table', { name: 'Members of Platform Team' }).getByText('ken').waitFor();
    await p.getByRole('link', { name: '← Teams' }).click();
    await p.getByRole('link', { name: 'red' }).click();
    await p.getByRole('heading', { name: 'Members of red' }).waitFor();
    await expect.poll(() => p.locator('.stat').first().textContent()).toMatch(/\$8\.50 of \$10\.00 this month/);
    await screenshot(p, 'team');
  });

  it('shows an auditor of one team only its members’ records', async () => {
    const { token } = await world.bridge.user('tess', 'auditor');
    const red = await world.bridge.ctx.teams.require('red');
    const tess = await world.bridge.ctx.users.byUsername('tess');
    await world.store.identity.updateUser(tess!._id, { audit_teams: [red._id] });
    world.bridge.ctx.authenticator.forget();
    const p = await page();
    await signIn(p, world.url, token);
    await p.evaluate(() => {
      location.hash = '#/interceptions';
    });
    const rows = p.getByRole('table', { name: 'Interceptions' }).locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('ken');
    expect(await p.getByText('mia').count()).toBe(0);
  });

  it('shows a member the banner of their team’s budget', async () => {
    const red = await world.bridge.ctx.teams.require('red');
    const { start, resetsAt } = { start: new Date(Date.UTC(2020, 0, 1)), resetsAt: new Date(Date.now() + 86_400_000) };
    await world.store.notifications.claim({
      _id: `team:${red._id}:month:${start.toISOString()}:0.8`,
      scope: { kind: 'team', id: red._id, name: 'red' },
      share: 0.8,
      budget: { usd: 10, period: 'month' },
      spent_usd: 8.5,
      period_start: start,
      resets_at: resetsAt,
      created_at: new Date(),
    });
    const ken = await world.bridge.user('ken');
    const p = await page();
    await signIn(p, world.url, ken.token);
    const banner = p.getByRole('region', { name: 'Budget notices' });
    await expect.poll(() => banner.textContent()).toContain('Team red used 80% of the budget of $10.00 this month.');
    await screenshot(p, 'banner');
  });
});
