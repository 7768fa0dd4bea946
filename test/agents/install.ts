import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';

/** Where the agent CLIs live: outside package.json, so `npm ci` stays light. */
export const AGENTS_DIR = resolve(import.meta.dirname, '../../.tools/agents');
const MODULES = join(AGENTS_DIR, 'node_modules');
const SPECS = ['@anthropic-ai/claude-code@2', '@openai/codex'];

export interface AgentCli {
  /** argv[0] and the arguments before the CLI's own. */
  command: string;
  prefix: string[];
  version: string;
}

export interface Agents {
  claude: AgentCli;
  codex: AgentCli;
}

const packageVersion = (name: string): string | undefined => {
  const file = join(MODULES, name, 'package.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : undefined;
};

/** PATH with this Node (24) first, so npm and the CLIs' wrappers run on it. */
export function pathWithNode(path = process.env.PATH ?? ''): string {
  return [dirname(process.execPath), path].join(delimiter);
}

/**
 * Claude Code 2.x ships a native binary in a per-platform package; its postinstall copies it over
 * the wrapper's placeholder. When npm did not run that script, use the platform binary directly.
 */
function claudeBinary(): string {
  const placeholder = join(MODULES, '@anthropic-ai/claude-code/bin/claude.exe');
  if (existsSync(placeholder) && statSync(placeholder).size > 1_000_000) return placeholder;
  const scope = join(MODULES, '@anthropic-ai');
  const platform = `claude-code-${process.platform}-${process.arch}`;
  const candidates = existsSync(scope) ? readdirSync(scope).filter((d) => d.startsWith(platform)) : [];
  for (const dir of candidates.sort()) {
    const bin = join(scope, dir, process.platform === 'win32' ? 'claude.exe' : 'claude');
    if (existsSync(bin)) return bin;
  }
  throw new Error(`no Claude Code binary for ${process.platform}-${process.arch} under ${scope}`);
}

function resolveAgents(): Agents {
  const claudeVersion = packageVersion('@anthropic-ai/claude-code');
  const codexVersion = packageVersion('@openai/codex');
  if (!claudeVersion || !codexVersion) throw new Error('agent CLIs are not installed');
  return {
    claude: { command: claudeBinary(), prefix: [], version: claudeVersion },
    codex: { command: process.execPath, prefix: [join(MODULES, '@openai/codex/bin/codex.js')], version: codexVersion },
  };
}

/**
 * Installs the real agent CLIs from the npm registry into `.tools/agents` on first use and reuses
 * them afterwards (`AIBRIDGE_AGENTS_REINSTALL=1` forces a fresh install).
 */
export function ensureAgents(log: (line: string) => void = () => {}): Agents {
  if (process.env.AIBRIDGE_AGENTS_REINSTALL === '1') rmSync(MODULES, { recursive: true, force: true });
  try {
    return resolveAgents();
  } catch {}
  mkdirSync(AGENTS_DIR, { recursive: true });
  log(`installing ${SPECS.join(' ')} into ${AGENTS_DIR}`);
  // npm picks the newest version whose `engines` fits the Node running it: make that Node 24.
  execFileSync('npm', ['install', '--prefix', AGENTS_DIR, '--no-save', '--no-audit', '--no-fund', ...SPECS], {
    env: { ...process.env, PATH: pathWithNode() },
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 600_000,
  });
  return resolveAgents();
}
