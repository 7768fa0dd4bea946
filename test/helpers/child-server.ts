import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { CLI, NODE, ROOT, waitForOutput } from './process.ts';

/** `aibridge server` in a process of its own, so its memory can be measured apart from the test's. */
export interface ChildServer {
  url: string;
  /** Its config file, for admin commands against the same store. */
  configFile: string;
  pid: number;
  /** The owner token printed on first start (a fresh database). */
  token: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resident set size now and at its peak (VmRSS, VmHWM), in bytes. */
  memory(): { rss: number; peak: number };
  stop(): Promise<number | null>;
}

interface Spawned {
  child: ChildProcess;
  configFile: string;
  output(): string;
}

function spawnServer(dir: string, config: Record<string, unknown>, env: NodeJS.ProcessEnv, cwd = ROOT): Spawned {
  const file = join(dir, 'aibridge.json');
  writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:0', data_dir: join(dir, 'data'), retention: 0, ...config }));
  const child: ChildProcess = spawn(NODE, [CLI, 'server', '--config', file], {
    cwd,
    stdio: 'pipe',
    env: { ...process.env, AIBRIDGE_LOG_LEVEL: 'warn', ...env },
  });
  let output = '';
  child.stdout?.on('data', (c) => (output += c));
  child.stderr?.on('data', (c) => (output += c));
  return { child, configFile: file, output: () => output };
}

function handle({ child, configFile, output }: Spawned, url: string, token: string): ChildServer {
  const pid = child.pid as number;
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  return {
    url,
    configFile,
    pid,
    token,
    output,
    memory() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
      return { rss: kb('VmRSS'), peak: kb('VmHWM') };
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * A server on a fresh database: it prints the first owner's token, which is how it is known to
 * be up. `cwd` is the directory it runs in (the repository's by default).
 */
export async function startChildServer(
  dir: string,
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
  cwd = ROOT,
): Promise<ChildServer> {
  const spawned = spawnServer(dir, config, env, cwd);
  const seen = await waitForOutput(spawned.child, /shown only this once:\n\n {2}aib_\S+\n/);
  const token = /shown only this once:\n\n {2}(aib_\S+)/.exec(seen)?.[1] as string;
  const url = /listening on (http:\/\/[^\s]+?)\.?\n/.exec(seen)?.[1] as string;
  return handle(spawned, url, token);
}

/**
 * Another replica on a database that already has users (it prints no token: `token` is
 * empty): it listens on a port chosen here and is up once /healthz answers.
 */
export async function startChildReplica(
  dir: string,
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
): Promise<ChildServer> {
  const port = await freePort();
  const spawned = spawnServer(dir, { ...config, listen: `127.0.0.1:${port}` }, env);
  const url = `http://127.0.0.1:${port}`;
  const server = handle(spawned, url, '');
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (spawned.child.exitCode !== null)
      throw new Error(`replica exited ${spawned.child.exitCode}:\n${spawned.output()}`);
    const up = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`replica not up within 60 s:\n${spawned.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
