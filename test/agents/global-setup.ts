import type { TestProject } from 'vitest/node';
import { type Agents, ensureAgents } from './install.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    agents: Agents;
  }
}

/** Installs (once, then cached in `.tools/agents`) the real Claude Code and Codex CLIs. */
export async function setup(project: TestProject): Promise<void> {
  const agents = ensureAgents((line) => console.log(`[agents] ${line}`));
  console.log(`[agents] Claude Code ${agents.claude.version}, Codex ${agents.codex.version}`);
  project.provide('agents', agents);
}
