import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, NODE, ROOT, waitForOutput } from './process.ts';

/** `aibridge server` in a process of its own, so its memory can be measured apart from the test's. */
export interface ChildServer {
  url: string;
  /** Its config file, for admin commands against the same store. */
  configFile: string;
  pid: number;
  /** The owner token printed on first start (a fresh store); '' otherwise. */
  token: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resident set size now and at its peak (VmRSS, VmHWM), in bytes. */
  memory(): { rss: number; peak: number };
  stop(): Promise<number | null>;
}

/**
 * Starts `aibridge server` on the given config (a fresh store prints the owner's token; a
 * store that has users — a second replica — does not, so pass `bootstrap: false`).
 */
export async function startChildServer(
  dir: string,
  config: Record<string, unknown>,
  options: { bootstrap?: boolean } = {},
): Promise<ChildServer> {
  const bootstrap = options.bootstrap ?? true;
  const file = join(dir, 'aibridge.json');
  writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:0', data_dir: join(dir, 'data'), retention: 0, ...config }));
  const child: ChildProcess = spawn(NODE, [CLI, 'server', '--config', file], {
    cwd: ROOT,
    stdio: 'pipe',
    env: { ...process.env, AIBRIDGE_LOG_LEVEL: bootstrap ? 'warn' : 'info' },
  });
  let output = '';
  child.stdout?.on('data', (c) => (output += c));
  child.stderr?.on('data', (c) => (output += c));
  const seen = await waitForOutput(
    child,
    bootstrap ? /ANTHROPIC_AUTH_TOKEN=\S+\n/ : /"url":"http[^"]+".*aibridge listening/,
  );
  const token = /ANTHROPIC_AUTH_TOKEN=(\S+)/.exec(seen)?.[1] ?? '';
  const url = (/ANTHROPIC_BASE_URL=(http:\/\/\S+)\/anthropic/.exec(seen) ??
    /"url":"(http[^"]+)"/.exec(seen))?.[1] as string;
  const pid = child.pid as number;
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  return {
    url,
    configFile: file,
    pid,
    token,
    output: () => output,
    memory() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
      return { rss: kb('VmRSS'), peak: kb('VmHWM') };
    },
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
