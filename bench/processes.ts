// What the benchmarks share: child processes of this tree, and the bridge's configuration.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM'); // also when a bench crashes
});

/** Spawns `node ARGS` and resolves once every pattern has appeared in its output. */
export function start(
  args: string[],
  patterns: RegExp[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; matches: RegExpExecArray[] }> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((done, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const matches = patterns.map((p) => p.exec(seen));
      if (matches.every(Boolean)) done({ child, matches: matches as RegExpExecArray[] });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}:\n${seen}`)));
  });
}

/** Stops one child and waits for it (a bridge stops its embedded database). */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** Stops every child, newest first, waiting for each. */
export async function stopAll(): Promise<void> {
  for (const child of children.reverse()) await stop(child);
}

/** The replaying upstream with its MCP server (bench/upstream-server.ts), on `port` if given. */
export async function startUpstream(port = 0): Promise<{ upstreamUrl: string; mcpUrl: string; pid: number }> {
  const { child, matches } = await start(
    ['bench/upstream-server.ts', String(port)],
    [/\{"upstream":"([^"]+)","mcp":"([^"]+)"\}/],
  );
  const [match] = matches as [RegExpExecArray];
  return { upstreamUrl: match[1] as string, mcpUrl: match[2] as string, pid: child.pid as number };
}

/** A bridge configuration on the benchmark upstream, with its embedded database under `work`. */
export function writeBridgeConfig(work: string, upstreamUrl: string, mcpUrl: string, extra: string[] = []): string {
  mkdirSync(work, { recursive: true });
  const file = join(work, 'aibridge.yaml');
  writeFileSync(
    file,
    [
      'listen: 127.0.0.1:0',
      `data_dir: ${join(work, 'data')}`,
      'retention: 0',
      'providers:',
      `  - { name: openai, type: openai, base_url: "${upstreamUrl}/v1", api_key: sk-bench }`,
      `  - { name: anthropic, type: anthropic, base_url: "${upstreamUrl}", api_key: sk-ant-bench }`,
      'mcp_servers:',
      `  - { name: test, url: "${mcpUrl}", tool_allow_regex: "^echo$" }`,
      ...extra,
    ].join('\n'),
  );
  return file;
}

/**
 * A bridge on the benchmark upstream with its own data directory; its URL, owner token and pid.
 * `cli` runs another tree's bridge (e.g. an earlier commit's, to compare before and after).
 */
export async function startBridge(
  configFile: string,
  options: { workers?: number; nodeArgs?: string[]; patterns?: RegExp[]; cli?: string } = {},
): Promise<{ url: string; token: string; child: ChildProcess; matches: RegExpExecArray[] }> {
  const { child, matches } = await start(
    [
      ...(options.nodeArgs ?? []),
      options.cli ?? 'src/cli.ts',
      'server',
      '--config',
      configFile,
      ...(options.workers && options.workers > 1 ? ['--workers', String(options.workers)] : []),
    ],
    [
      /ANTHROPIC_BASE_URL=(http:\/\/[^\s]+)\/anthropic\s+export ANTHROPIC_AUTH_TOKEN=(\S+)/,
      ...(options.patterns ?? []),
    ],
    { AIBRIDGE_LOG_LEVEL: 'warn' },
  );
  const [match] = matches as [RegExpExecArray];
  return { url: match[1] as string, token: match[2] as string, child, matches };
}

/**
 * A commit's bridge in a directory of its own (its src/, schemas/ and package.json, this tree's
 * node_modules), to run beside this tree's: a change's before and after in one run. Returns
 * its entry point, for startBridge's `cli`.
 */
export function checkoutBridge(ref: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const tar = execFileSync('git', ['archive', '--format=tar', ref, 'src', 'schemas', 'package.json'], {
    cwd: ROOT,
    maxBuffer: 256 * 1024 * 1024,
  });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return join(dir, 'src/cli.ts');
}
