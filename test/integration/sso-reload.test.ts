/** Single sign-on follows a reload (README "Changing the configuration without a restart"). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startFileBridge, type TestBridge } from '../helpers/bridge.ts';
import { type TestStore, testStore } from '../helpers/db.ts';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-sso-reload-');
let idp: TestOidcProvider;
let store: TestStore;
let bridge: TestBridge;
let file: string;

beforeAll(async () => {
  idp = await startOidcProvider({ redirectUris: ['http://127.0.0.1:9/callback'] });
  store = await testStore('embedded', 'sso-reload');
  const dir = tempDir();
  file = join(dir, 'aibridge.json');
  writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:0', data_dir: dir, retention: 0 }));
  bridge = await startFileBridge(store, file);
});
afterAll(async () => {
  await bridge?.close();
  await idp?.close();
  await store?.close();
});

const offered = () => fetch(`${bridge.url}/api/v2/aibridge/session/sso`).then((r) => r.json());

it('turns single sign-on on, changes its client, and turns it off, for new sign-ins', async () => {
  expect(await offered()).toEqual({ enabled: false });
  const oidc = { issuer: idp.issuer, client_id: idp.clientId, client_secret: idp.clientSecret };
  const dir = join(file, '..');
  const write = (auth: unknown) =>
    writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:0', data_dir: dir, retention: 0, auth }));
  write({ oidc });
  expect((await bridge.reload()).result).toBe('ok');
  expect((await offered()).enabled).toBe(true);
  const start = await fetch(`${bridge.url}/api/v2/aibridge/session/sso/start`, { redirect: 'manual' });
  expect(start.status).toBe(302);
  expect(start.headers.get('location')).toMatch(new RegExp(`^${idp.issuer}/auth\\?`));
  const first = bridge.ctx.oidc;
  write({ oidc: { ...oidc, roles: { owner: ['admins'] } } });
  await bridge.reload();
  expect(bridge.ctx.oidc).not.toBe(first);
  expect(bridge.ctx.oidc?.settings.roles).toEqual({ owner: ['admins'] });
  const same = bridge.ctx.oidc;
  await bridge.reload(); // nothing changed: the client (and its discovered metadata) is kept
  expect(bridge.ctx.oidc).toBe(same);
  write({});
  await bridge.reload();
  expect(await offered()).toEqual({ enabled: false });
  const off = await fetch(`${bridge.url}/api/v2/aibridge/session/sso/start`, { redirect: 'manual' });
  expect(off.headers.get('location')).toBe('/?sso_error=not_configured');
});
