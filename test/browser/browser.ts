import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { ROOT } from '../helpers/process.ts';

/** Screenshots of every page land here (git-ignored); docs/console/ holds the chosen ones. */
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'console');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Debian's Chromium, headless; CHROMIUM_PATH points elsewhere on other machines. */
export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

/** A page and what it reported: script errors, and console errors other than those a test allows. */
export interface Watched {
  page: Page;
  pageErrors: string[];
  consoleErrors: string[];
  /** Console errors a test provokes on purpose (the browser logs every non-2xx fetch, e.g. an expected 404). */
  allowed: RegExp[];
}

/** The browser's console note on a fetch that answered `status`. */
export const httpStatus = (status: number) => new RegExp(`the server responded with a status of ${status}\\b`);

/** A fresh context (no cookies) and page, watched for errors and CSP violations from its first script. */
export async function openPage(browser: Browser, viewport = DESKTOP): Promise<Watched> {
  const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  // Before sign-in the session check answers 401, which the browser logs.
  const watched: Watched = { page, pageErrors: [], consoleErrors: [], allowed: [httpStatus(401)] };
  page.on('pageerror', (err) => watched.pageErrors.push(err.message));
  page.on('console', (message) => {
    if (message.type() === 'error') watched.consoleErrors.push(message.text());
  });
  // Runs before the page's own scripts (through the DevTools protocol, so the page's CSP does not apply to it).
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __violations: string[] }).__violations = seen;
    document.addEventListener('securitypolicyviolation', (event) =>
      seen.push(`${event.effectiveDirective} ${event.blockedURI}`),
    );
  });
  return watched;
}

/** Asserts a page stayed clean: no script errors, no CSP violations, no console errors but the allowed. */
export async function expectClean(w: Watched): Promise<void> {
  expect(w.pageErrors).toEqual([]);
  expect(await violations(w.page)).toEqual([]);
  expect(w.consoleErrors.filter((text) => !w.allowed.some((re) => re.test(text)))).toEqual([]);
}

/** CSP violations the page has seen so far. */
export function violations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __violations: string[] }).__violations ?? []);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

/** Signs in through the form, as a person would. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.getByLabel('Bridge token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}
