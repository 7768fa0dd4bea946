/**
 * A bridge token never reaches the upstream (README, "Security": the client's credentials are removed).
 * A client on the console's site — a browser-based agent, a page calling the provider routes
 * with credentials — also sends the console's session cookie, itself a bridge token: it must
 * be taken out of the Cookie header like Authorization and X-Api-Key are, other cookies kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';

let h: Harness;
let session: string;
beforeAll(async () => {
  h = await startHarness('hostile-upstream-headers');
  const res = await fetch(`${h.bridge.url}/api/v2/aibridge/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: h.token }),
  });
  session = (res.headers.get('set-cookie') as string).split(';')[0]?.split('=')[1] as string;
  expect(session).toMatch(/^aib_/);
});
afterAll(async () => {
  await h?.close();
});

describe('the console session cookie', () => {
  it('is not forwarded upstream, on bridged or passthrough routes; other cookies are', async () => {
    h.upstream.setDefault((r) =>
      r.path.includes('/models') ? 'anthropic-passthrough/models.json' : 'anthropic-messages/text.json',
    );
    const cookie = `theme=dark; aibridge_session=${session}; __Host-aibridge_session=${session}; lang=en`;
    const headers = { authorization: `Bearer ${h.token}`, 'content-type': 'application/json', cookie };
    const bridged = await fetch(`${h.bridge.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'claude-test-1', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(bridged.status).toBe(200);
    const passthrough = await fetch(`${h.bridge.url}/anthropic/v1/models`, { headers });
    expect(passthrough.status).toBe(200);
    expect(h.upstream.requests).toHaveLength(2);
    for (const sent of h.upstream.requests) {
      expect(JSON.stringify(sent.headers)).not.toContain('aib_');
      expect(sent.headers.cookie).toBe('theme=dark; lang=en');
    }
    const onlyOurs = await fetch(`${h.bridge.url}/anthropic/v1/models`, {
      headers: { authorization: `Bearer ${h.token}`, cookie: `aibridge_session=${session}` },
    });
    expect(onlyOurs.status).toBe(200);
    expect(h.upstream.requests.at(-1)?.headers.cookie).toBeUndefined();
  });
});
