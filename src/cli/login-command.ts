import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { type Command, Option } from 'commander';
import { apiUrl, defaultBridgeUrl, refusalReason, unreachable } from './api-client.ts';
import { ExitError } from './common.ts';
import { saveCredential } from './credentials.ts';

type Options = { url?: string; device?: boolean; name?: string; expires: string };

interface Started {
  login: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

interface Issued {
  token: string;
  id: string;
  name: string;
  expires_at: string;
  user: { id: string; username: string; name: string; role: string };
}

/** Transient failures (the bridge or the provider briefly unreachable) tolerated in a row while waiting. */
const TRANSIENT_TRIES = 3;

const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

class Transient extends Error {}

/** POST JSON to the bridge's API; a refusal becomes one line with the server's reason (exit 1). */
async function post(base: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const url = apiUrl(base, path);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new Transient(unreachable(new URL(url).origin, err));
  }
  const text = await response.text();
  if (response.status < 400) {
    let parsed: any;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: response.status, body: parsed };
  }
  const reason = refusalReason(text);
  if (response.status === 503) throw new Transient(`the bridge answered 503: ${reason}`);
  throw new ExitError(`the bridge answered ${response.status}: ${reason}`);
}

/** Opens the page in the person's browser, when there is a person at a terminal to see it. */
function openBrowser(url: string): void {
  if (!/^https?:\/\//.test(url) || !process.stderr.isTTY) return;
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer.exe' : 'xdg-open';
  try {
    const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {}); // no opener here: the printed link is enough
    child.unref();
  } catch {}
}

async function waitForApproval(url: string, started: Started): Promise<Issued> {
  const deadline = Date.now() + started.expires_in * 1000;
  let interval = Math.max(1, started.interval);
  let failures = 0;
  for (;;) {
    await sleep(interval);
    if (Date.now() >= deadline)
      throw new ExitError('the sign-in code expired before it was approved; run aibridge login again');
    try {
      const answer = await post(url, '/login/device/token', { login: started.login });
      failures = 0;
      if (answer.status === 201) return answer.body as Issued;
      interval = Math.max(interval, Number(answer.body?.interval) || interval);
    } catch (err) {
      if (!(err instanceof Transient) || ++failures >= TRANSIENT_TRIES) throw new ExitError((err as Error).message);
    }
  }
}

/**
 * aibridge login: a named, expiring token for the person signing in through the bridge's
 * single sign-on (device authorization: they approve on any device with a browser), saved
 * for later commands against the same URL.
 */
export function loginCommand(program: Command): void {
  program
    .command('login')
    .description("get a token through the bridge's single sign-on and save it for this URL")
    .addOption(
      new Option('--url <url>', 'bridge URL (default: the bridge running here, else http://127.0.0.1:4000)').env(
        'AIBRIDGE_URL',
      ),
    )
    .option('--device', 'only print the sign-in link and code (for a machine without a browser)')
    .option('--name <name>', 'the token\'s name (default "aibridge login on <this host>")')
    .option('--expires <duration>', 'when the token expires: 30d, 12h or an RFC 3339 time (at most 90d)', '30d')
    .action(async (opts: Options) => {
      // The bridge found as every command finds it (README "Finding the configuration").
      const url = opts.url ?? defaultBridgeUrl();
      if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
        throw new ExitError(`--url "${url}" is not an http(s) URL`, 2);
      }
      const name = (opts.name ?? `aibridge login on ${hostname()}`).slice(0, 100);
      let started: Started;
      try {
        started = (await post(url, '/login/device', { name, expires: opts.expires })).body as Started;
      } catch (err) {
        throw err instanceof Transient ? new ExitError(err.message) : err;
      }
      const link = started.verification_uri_complete;
      const step = link === started.verification_uri ? 'enter the code' : 'check that it shows the code';
      process.stderr.write(
        `To sign in, open this page and ${step} ${started.user_code}:\n\n  ${link}\n\n` +
          'Approve only a sign-in you started yourself. Waiting for approval…\n',
      );
      if (!opts.device) openBrowser(link);
      const issued = await waitForApproval(url, started);
      const path = saveCredential(url, {
        token: issued.token,
        token_id: issued.id,
        name: issued.name,
        username: issued.user.username,
        expires_at: issued.expires_at,
        saved_at: new Date().toISOString(),
      });
      process.stderr.write(
        `Signed in as ${issued.user.username} (${issued.user.role}). Token "${issued.name}" expires ${issued.expires_at}; saved in ${path}\n`,
      );
    });
}
