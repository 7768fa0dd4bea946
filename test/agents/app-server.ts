import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { AgentCli } from './install.ts';
import type { AgentRun } from './support.ts';

/**
 * `printenv CODEX_API_KEY | codex login --with-api-key`: stores the key in `$CODEX_HOME`, where the
 * interactive Codex and `app-server` read it (only `codex exec` reads `CODEX_API_KEY` itself).
 */
export function codexLogin(
  cli: AgentCli,
  key: string,
  options: { cwd: string; env: Record<string, string>; timeoutMs: number },
): Promise<AgentRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cli.command, [...cli.prefix, 'login', '--with-api-key'], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stdout, stderr });
    });
    child.stdin.end(`${key}\n`);
  });
}

/** A run of several turns in one Codex session, with what Codex answered in each. */
export interface SessionRun extends AgentRun {
  /** The agent's final message of each turn, in order. */
  answers: string[];
}

/**
 * Runs prompts as turns of one thread of `codex app-server` (what Codex's IDE extension drives,
 * JSON-RPC over stdio): one process, one session, so Codex keeps its connection between turns,
 * as an interactive session does. Never asks for approval; read-only sandbox.
 */
export function codexSession(
  cli: AgentCli,
  prompts: string[],
  options: { cwd: string; env: Record<string, string>; timeoutMs: number },
): Promise<SessionRun> {
  const child = spawn(cli.command, [...cli.prefix, 'app-server'], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true, // own process group, so the end takes the sandboxed children too
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const answers: string[] = [];
  const pending = new Map<number, (message: any) => void>();
  const watchers = new Set<{ match(message: any): boolean; resolve(message: any): void }>();
  let nextId = 1;

  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout += `${line}\n`;
    let message: any;
    try {
      message = JSON.parse(line);
    } catch {
      return;
    }
    if (message.id !== undefined && pending.has(message.id) && !message.method) {
      pending.get(message.id)?.(message);
      pending.delete(message.id);
      return;
    }
    if (message.id !== undefined && message.method) {
      // A request of the server's (an approval): declined, the policy says never.
      child.stdin.write(`${JSON.stringify({ id: message.id, result: { decision: 'decline' } })}\n`);
      return;
    }
    if (message.method === 'item/completed' && message.params?.item?.type === 'agentMessage') {
      answers.push(String(message.params.item.text ?? ''));
    }
    for (const watcher of watchers) {
      if (!watcher.match(message)) continue;
      watchers.delete(watcher);
      watcher.resolve(message);
    }
  });

  const call = (method: string, params: unknown) =>
    new Promise<any>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      child.stdin.write(`${JSON.stringify({ id, method, params })}\n`);
    });
  const next = (match: (message: any) => boolean) => new Promise<any>((resolve) => watchers.add({ match, resolve }));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const stop = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {}
  };

  const turns = (async () => {
    await call('initialize', { clientInfo: { name: 'codex_exec', title: 'aibridge agents test', version: '0.0.1' } });
    child.stdin.write(`${JSON.stringify({ method: 'initialized' })}\n`);
    const thread = await call('thread/start', { cwd: options.cwd, approvalPolicy: 'never', sandbox: 'read-only' });
    const threadId = thread.result?.thread?.id;
    if (!threadId) throw new Error(`thread/start failed: ${JSON.stringify(thread)}`);
    for (const text of prompts) {
      const completed = next(
        (m) => m.method === 'turn/completed' || (m.method === 'error' && m.params?.willRetry !== true),
      );
      const started = await call('turn/start', { threadId, input: [{ type: 'text', text }] });
      if (started.error) throw new Error(`turn/start failed: ${JSON.stringify(started.error)}`);
      const done = await completed;
      const turn = done.params?.turn;
      if (done.method === 'error' || turn?.error || turn?.status === 'failed' || turn?.status === 'interrupted') {
        throw new Error(`turn did not complete: ${JSON.stringify(done).slice(0, 2_000)}`);
      }
    }
  })();

  return new Promise<SessionRun>((resolve) => {
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, options.timeoutMs);
    const finish = async (failure?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (failure) stderr += `\n[test] ${failure instanceof Error ? failure.message : String(failure)}\n`;
      stop();
      const { signal } = await exited;
      resolve({ code: failure || timedOut ? 1 : 0, signal, timedOut, stdout, stderr, answers });
    };
    turns.then(
      () => finish(),
      (err) => finish(err),
    );
    exited.then(() => finish(timedOut ? 'timed out' : 'app-server exited before its turns completed'));
  });
}
