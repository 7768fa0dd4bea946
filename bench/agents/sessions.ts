// The two agents the benchmark replays, as their traffic looks on the wire (README "Pointing
// clients at the bridge"): Claude Code — Anthropic Messages, streaming, ~24 tools, system blocks and a
// moving cache_control breakpoint, x-claude-code-session-id, a small blocking side request to a
// fast model per prompt — and Codex — OpenAI Responses, streaming, function / namespace /
// web_search tools, encrypted reasoning sent back, session-id. Each session's conversation grows
// call by call (tool calls and their results appended) from about 40 KB to about 200 KB.

import { GrowingBody } from './body.ts';
import { readMessagesStream } from './messages.ts';
import { INJECTED_ID, INJECTED_TOOL, planMarker } from './model.ts';
import { readResponsesStream } from './responses.ts';

type Json = Record<string, any>;

export type Shape = 'claude-code' | 'codex';

/** A tool call the client sees in an answer. */
export interface ToolCall {
  name: string;
  id: string;
  input: Record<string, unknown>;
}

/** An answer as the client read it: what it appends to its conversation, and the tool it must run. */
export interface Read {
  tool: ToolCall | undefined;
  /** The API's own shape of the answer (content blocks, or output items). */
  parts: Json[];
}

export interface Session {
  readonly shape: Shape;
  readonly api: 'anthropic' | 'openai';
  /** The API path, as sent to the upstream (and to a gateway, under its prefix). */
  readonly path: string;
  /** The agent's own headers (no credentials). */
  readonly headers: Record<string, string>;
  readonly prompts: number;
  /** Appends the user's next prompt. */
  begin(prompt: number): void;
  /** A side request to send beside the prompt's first call, if this agent makes one. */
  side(): string | undefined;
  /** What the model does next: run the injected tool first (`loop`), then call `expect` (null: answer). */
  step(): { loop: boolean; expect: string | null };
  /** The next call's body; `offerInjected` adds the injected tool as a gateway would (for systems that do not). */
  body(offerInjected: boolean): Buffer;
  read(stream: string): Read;
  /** The body after an injected call and its result, for a client running the tool loop itself; the conversation is unchanged. */
  followUp(injected: Read, result: string): Buffer;
  /** The visible answer of a loop run client-side: the first answer's text, then the second answer. */
  merge(first: Read, second: Read): Read;
  /** Appends the answer and, if it called a tool, that tool's result. */
  accept(read: Read): void;
}

/** Prose of a given length, varied enough not to be one repeated string. */
export function filler(seed: number, length: number): string {
  const words = [
    'the',
    'retry',
    'backoff',
    'is',
    'computed',
    'in',
    'src/retry.ts;',
    'it',
    'doubles',
    'each',
    'attempt',
    'and',
    'caps',
    'at',
    'sixty',
    'seconds.',
    'Tests',
    'cover',
    'jitter,',
    'limits',
    'and',
    '"quoted"',
    'paths\n-',
    'café',
    '→',
  ];
  let out = '';
  for (let i = seed; out.length < length; i += 7) out += `${words[i % words.length]} `;
  return out.slice(0, length);
}

/** How much text a client tool gives back, by name (a file read is large, an edit is short). */
const RESULT_BYTES: Record<string, number> = {
  Read: 6_000,
  Grep: 2_500,
  Bash: 3_000,
  Glob: 1_000,
  Edit: 200,
  exec_command: 3_500,
  apply_patch: 200,
  update_plan: 60,
};
const resultOf = (tool: ToolCall, seed: number) => filler(seed, RESULT_BYTES[tool.name] ?? 1_000);

/** Prompt plans, in turn: one injected call every few prompts (see model.ts for the notation). */
const PLANS: Record<Shape, string[][]> = {
  'claude-code': [
    ['Grep', 'Read', 'Edit'],
    ['Read', 'mcp+Bash'],
    ['Glob', 'Read', 'Read', 'Edit'],
    ['Bash'],
    ['mcp+Read', 'Edit', 'Bash'],
    ['Read', 'Grep', 'Read'],
    ['Edit', 'Bash'],
    ['mcp+'],
  ],
  codex: [
    ['exec_command', 'exec_command', 'apply_patch'],
    ['update_plan', 'mcp+exec_command'],
    ['exec_command', 'exec_command', 'exec_command', 'apply_patch'],
    ['exec_command'],
    ['mcp+exec_command', 'apply_patch', 'exec_command'],
    ['exec_command', 'exec_command', 'update_plan'],
    ['apply_patch', 'exec_command'],
    ['mcp+'],
  ],
};

/** The injected tool as a gateway running the benchmark's MCP server offers it, per API. */
const INJECTED = {
  anthropic: {
    name: 'bmcp_test_echo',
    description: 'Returns the text it is given.',
    input_schema: { type: 'object', properties: { text: { type: 'string' } } },
  },
  openai: {
    type: 'function',
    name: 'bmcp_test_echo',
    description: 'Returns the text it is given.',
    parameters: { type: 'object', properties: { text: { type: 'string' } } },
    strict: false,
  },
};

const uuid = (round: number, index: number, shape: Shape) =>
  `${shape === 'codex' ? '0c0de' : 'c1a0d'}e1e-5d4a-4e6f-9a7b-${String(round).padStart(4, '0')}${String(index).padStart(8, '0')}`;

/** Where the model is in the current prompt's plan. */
class Plan {
  readonly tag: string;
  readonly steps: string[];
  done = 0;
  constructor(tag: string, steps: string[]) {
    this.tag = tag;
    this.steps = steps;
  }
  get marker(): string {
    return planMarker(this.tag, this.steps);
  }
  step(): { loop: boolean; expect: string | null } {
    const step = this.steps[this.done];
    if (step === undefined) return { loop: false, expect: null };
    if (!step.startsWith('mcp+')) return { loop: false, expect: step };
    return { loop: true, expect: step.slice(4) || null };
  }
}

const CLAUDE_TOOLS = [
  'Task',
  'Bash',
  'Glob',
  'Grep',
  'ExitPlanMode',
  'Read',
  'Edit',
  'MultiEdit',
  'Write',
  'NotebookEdit',
  'WebFetch',
  'TodoWrite',
  'WebSearch',
  'BashOutput',
  'KillShell',
  'SlashCommand',
  'ListMcpResources',
  'ReadMcpResource',
  'AskUserQuestion',
  'Skill',
  'EnterPlanMode',
  'LSP',
  'ToolSearch',
  'Monitor',
];

/** The breakpoint moves to the newest block each call, as Claude Code's does (on a copy: the conversation keeps none). */
function withBreakpoint(message: Json): Json {
  const blocks = message.content as Json[];
  return { ...message, content: [...blocks.slice(0, -1), { ...blocks.at(-1), cache_control: { type: 'ephemeral' } }] };
}

class ClaudeCodeSession implements Session {
  readonly shape = 'claude-code';
  readonly api = 'anthropic';
  readonly path = '/v1/messages?beta=true';
  readonly headers: Record<string, string>;
  readonly prompts: number;
  readonly #id: string;
  readonly #seed: number;
  readonly #body: GrowingBody;
  #plan = new Plan('', []);

  constructor(round: number, index: number, prompts: number) {
    this.prompts = prompts;
    this.#seed = index;
    this.#id = uuid(round, index, 'claude-code');
    this.headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14',
      'anthropic-dangerous-direct-browser-access': 'true',
      'x-app': 'cli',
      'user-agent': 'claude-cli/2.1.197 (external, cli)',
      'x-claude-code-session-id': this.#id,
      'x-stainless-lang': 'js',
      'x-stainless-runtime': 'node',
      'x-stainless-retry-count': '0',
      'x-stainless-timeout': '600',
    };
    const system = [
      { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude." },
      { type: 'text', text: filler(index, 11_000), cache_control: { type: 'ephemeral' } },
    ];
    const tools = CLAUDE_TOOLS.map((name, i) => ({
      name,
      description: filler(i * 13, 700 + (i % 5) * 100),
      input_schema: {
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        properties: {
          file_path: { type: 'string', description: filler(i, 120) },
          command: { type: 'string', description: 'The command to run' },
          timeout: { type: 'number', description: 'Optional timeout in milliseconds (max 600000)' },
        },
        required: ['file_path'],
        additionalProperties: false,
      },
    }));
    const tail = (offered: Json[]) => ({
      system,
      tools: offered,
      metadata: { user_id: `user_0a1b2c3d4e5f_account__session_${this.#id}` },
      temperature: 1,
      stream: true,
    });
    this.#body = new GrowingBody(
      { model: 'claude-sonnet-4-5', max_tokens: 32_000 },
      'messages',
      tail(tools),
      tail([INJECTED.anthropic, ...tools]),
    );
  }

  begin(prompt: number): void {
    const steps = PLANS['claude-code'][prompt % PLANS['claude-code'].length] as string[];
    this.#plan = new Plan(`s${this.#seed}p${prompt}`, steps);
    const content: Json[] = [];
    if (prompt === 0)
      content.push({ type: 'text', text: `<system-reminder>\n${filler(this.#seed + 5, 3_000)}\n</system-reminder>` });
    content.push({ type: 'text', text: `${filler(prompt, 240)} ${this.#plan.marker}` });
    this.#body.push({ role: 'user', content });
  }

  side(): string {
    return JSON.stringify({
      model: 'claude-haiku-4-5',
      max_tokens: 512,
      system: [{ type: 'text', text: 'Summarize this coding conversation in under 50 characters.' }],
      messages: [{ role: 'user', content: filler(this.#seed, 1_200) }],
      temperature: 0,
      metadata: { user_id: `user_0a1b2c_account__session_${this.#id}` },
      stream: false,
    });
  }

  step() {
    return this.#plan.step();
  }

  body(offerInjected: boolean): Buffer {
    return this.#body.bytes(offerInjected, [], withBreakpoint);
  }

  read(stream: string): Read {
    const { content } = readMessagesStream(stream);
    const use = content.find((b) => b.type === 'tool_use');
    return { tool: use ? { name: use.name, id: use.id, input: use.input } : undefined, parts: content };
  }

  #exchange(read: Read, result: string): Json[] {
    const tool = read.tool as ToolCall;
    return [
      { role: 'assistant', content: read.parts },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: tool.id, content: result }] },
    ];
  }

  followUp(injected: Read, result: string): Buffer {
    return this.#body.bytes(true, this.#exchange(injected, result), withBreakpoint);
  }

  merge(first: Read, second: Read): Read {
    return { tool: second.tool, parts: [...first.parts.filter((b) => b.type === 'text'), ...second.parts] };
  }

  accept(read: Read): void {
    if (!read.tool) {
      this.#body.push({ role: 'assistant', content: read.parts });
      return;
    }
    this.#body.push(...this.#exchange(read, resultOf(read.tool, this.#seed + this.#plan.done)));
    this.#plan.done++;
  }
}

const CODEX_FUNCTIONS: Array<[string, number]> = [
  ['exec_command', 1_400],
  ['write_stdin', 700],
  ['apply_patch', 2_600],
  ['update_plan', 900],
  ['view_image', 300],
  ['list_mcp_resources', 600],
  ['list_mcp_resource_templates', 600],
  ['read_mcp_resource', 500],
];

class CodexSession implements Session {
  readonly shape = 'codex';
  readonly api = 'openai';
  readonly path = '/v1/responses';
  readonly headers: Record<string, string>;
  readonly prompts: number;
  readonly #id: string;
  readonly #seed: number;
  readonly #body: GrowingBody;
  #plan = new Plan('', []);

  constructor(round: number, index: number, prompts: number) {
    this.prompts = prompts;
    this.#seed = index;
    this.#id = uuid(round, index, 'codex');
    this.headers = {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      originator: 'codex_cli_rs',
      'user-agent': 'codex_cli_rs/0.171.0 (Ubuntu 24.4.0; x86_64) xterm-256color',
      version: '0.171.0',
      'session-id': this.#id,
    };
    const tools = [
      ...CODEX_FUNCTIONS.map(([name, size], i) => ({
        type: 'function',
        name,
        description: filler(i * 11, size),
        strict: false,
        parameters: {
          type: 'object',
          properties: { cmd: { type: 'string', description: filler(i, 200) }, workdir: { type: 'string' } },
          required: ['cmd'],
          additionalProperties: false,
        },
      })),
      {
        type: 'namespace',
        name: 'mcp__fs',
        tools: ['read_file', 'list_directory', 'search_files'].map((name, i) => ({
          type: 'function',
          name,
          description: filler(i + 40, 400),
          parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
        })),
      },
      { type: 'web_search' },
    ];
    const tail = (offered: Json[]) => ({
      tools: offered,
      tool_choice: 'auto',
      parallel_tool_calls: false,
      reasoning: { effort: 'medium', summary: 'auto' },
      store: false,
      stream: true,
      include: ['reasoning.encrypted_content'],
      prompt_cache_key: this.#id,
    });
    this.#body = new GrowingBody(
      { model: 'gpt-5-codex', instructions: filler(index + 3, 14_000) },
      'input',
      tail(tools),
      tail([...tools, INJECTED.openai]),
    );
    this.#body.push(
      {
        type: 'message',
        role: 'developer',
        content: [
          {
            type: 'input_text',
            text: `<permissions instructions>\n${filler(index, 2_400)}\n</permissions instructions>`,
          },
        ],
      },
      {
        type: 'message',
        role: 'user',
        content: [{ type: 'input_text', text: `# AGENTS.md instructions\n\n${filler(index + 9, 4_000)}` }],
      },
      {
        type: 'message',
        role: 'user',
        content: [
          {
            type: 'input_text',
            text: `<environment_context>\n  <cwd>/home/dev/retry</cwd>\n  <shell>bash</shell>\n</environment_context>`,
          },
        ],
      },
    );
  }

  begin(prompt: number): void {
    const steps = PLANS.codex[prompt % PLANS.codex.length] as string[];
    this.#plan = new Plan(`s${this.#seed}p${prompt}`, steps);
    this.#body.push({
      type: 'message',
      role: 'user',
      content: [{ type: 'input_text', text: `${filler(prompt + 2, 240)} ${this.#plan.marker}` }],
    });
  }

  side(): undefined {
    return undefined; // Codex makes none
  }

  step() {
    return this.#plan.step();
  }

  body(offerInjected: boolean): Buffer {
    return this.#body.bytes(offerInjected);
  }

  read(stream: string): Read {
    const { items } = readResponsesStream(stream);
    const call = items.find((it) => it.type === 'function_call');
    return {
      tool: call ? { name: call.name, id: call.call_id, input: JSON.parse(call.arguments || '{}') } : undefined,
      parts: items,
    };
  }

  #exchange(read: Read, result: string): Json[] {
    const tool = read.tool as ToolCall;
    return [...read.parts, { type: 'function_call_output', call_id: tool.id, output: result }];
  }

  followUp(injected: Read, result: string): Buffer {
    return this.#body.bytes(true, this.#exchange(injected, result));
  }

  merge(first: Read, second: Read): Read {
    return { tool: second.tool, parts: [...first.parts.filter((it) => it.type !== 'function_call'), ...second.parts] };
  }

  accept(read: Read): void {
    if (!read.tool) {
      this.#body.push(...read.parts);
      return;
    }
    this.#body.push(...this.#exchange(read, resultOf(read.tool, this.#seed + this.#plan.done)));
    this.#plan.done++;
  }
}

/** Calls a session makes: each prompt's steps and its answer, and Claude Code's side requests. */
export function callsPerSession(shape: Shape, prompts: number): number {
  let calls = 0;
  for (let p = 0; p < prompts; p++) calls += (PLANS[shape][p % PLANS[shape].length] as string[]).length + 1;
  return calls + (shape === 'claude-code' ? prompts : 0);
}

export function createSession(shape: Shape, round: number, index: number, prompts: number): Session {
  return shape === 'codex' ? new CodexSession(round, index, prompts) : new ClaudeCodeSession(round, index, prompts);
}

/** Whether a tool call is one a gateway should have run itself (never shown to the client). */
export const isInjected = (tool: ToolCall) =>
  INJECTED_TOOL.test(tool.name) || tool.id.startsWith(INJECTED_ID.anthropic) || tool.id.startsWith(INJECTED_ID.openai);
