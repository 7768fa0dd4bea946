import { type Command, Option } from 'commander';
import { isOwnAddress } from '../proxy/target.ts';
import { ExitError } from './common.ts';
import { savedToken } from './credentials.ts';
import { isRunning, readServerRecord } from './server-record.ts';

export interface ApiOptions {
  url: string;
  token?: string;
}

const DEFAULT_URL = 'http://127.0.0.1:4000';

/**
 * The bridge a command talks to without --url or AIBRIDGE_URL: the one running here (its
 * server.json), else the default. The record is read from the working directory, where anyone
 * may have put one (a cloned repository): it is followed only to this machine, as the token goes with it.
 */
export function defaultBridgeUrl(): string {
  const running = readServerRecord();
  if (!running || !isRunning(running)) return DEFAULT_URL;
  return onThisMachine(running.url) ? running.url : DEFAULT_URL;
}

function onThisMachine(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || isOwnAddress(host);
  } catch {
    return false;
  }
}

/**
 * --url / AIBRIDGE_URL and --token / AIBRIDGE_SESSION_TOKEN, for commands that talk to a running
 * bridge. Neither has a default here: given neither, a command may read its store instead.
 */
export function addApiOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--url <url>', 'bridge URL (default: the bridge running here, else http://127.0.0.1:4000)').env(
        'AIBRIDGE_URL',
      ),
    )
    .addOption(new Option('--token <token>', 'session token').env('AIBRIDGE_SESSION_TOKEN'));
}

/**
 * Refuses a bad --url or a missing token before any request (exit 2). Without --token or
 * AIBRIDGE_SESSION_TOKEN, the token `aibridge login` saved for this URL is used.
 */
export function checkApiOptions(opts: ApiOptions): void {
  if (!URL.canParse(opts.url) || !/^https?:$/.test(new URL(opts.url).protocol)) {
    throw new ExitError(`--url "${opts.url}" is not an http(s) URL`, 2);
  }
  opts.token ||= savedToken(opts.url);
  if (!opts.token) {
    throw new ExitError(
      'no session token: pass --token, set AIBRIDGE_SESSION_TOKEN or run aibridge login --url URL',
      2,
    );
  }
}

/** An API path of the bridge at `base`. */
export const apiUrl = (base: string, path: string) => `${base.replace(/\/+$/, '')}/api/v2/aibridge${path}`;

/** Why a request did not reach the bridge, in a few words (the error's code where there is one). */
export function unreachable(origin: string, err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return `cannot reach ${origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`;
}

/** What a refusal's body says: the API's message and validations, or the start of whatever else it is. */
export function refusalReason(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: string; validations?: Array<{ field: string; detail: string }> };
    const details = (body.validations ?? []).map((v) => `${v.field}: ${v.detail}`).join('; ');
    return `${body.message ?? text.slice(0, 200)}${details ? ` (${details})` : ''}`;
  } catch {
    return text.slice(0, 200);
  }
}

/** GET an API path; any non-200 becomes one line naming the server's reason (exit 1). */
export async function apiGet<T>(
  opts: ApiOptions,
  path: string,
  params: Record<string, string | undefined>,
): Promise<T> {
  const url = new URL(apiUrl(opts.url, path));
  for (const [name, value] of Object.entries(params))
    if (value !== undefined && value !== '') url.searchParams.set(name, value);
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { authorization: `Bearer ${opts.token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(300_000),
    });
  } catch (err) {
    throw new ExitError(unreachable(url.origin, err));
  }
  const text = await response.text();
  if (response.status !== 200) throw new ExitError(`server answered ${response.status}: ${refusalReason(text)}`);
  return JSON.parse(text) as T;
}
