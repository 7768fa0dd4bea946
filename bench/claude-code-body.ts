// A request shaped like Claude Code 2.1's main-loop call (README, "Pointing clients at the bridge"): system blocks with
// cache_control, ~24 tools with long descriptions and JSON schemas, a conversation with tool
// results, metadata.user_id — about 80 KB of compact JSON, deterministic from run to run.

const TOOL_NAMES = [
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

/** Prose of a given length, varied enough not to be a run of one string. */
function prose(seed: number, length: number): string {
  const words = [
    'the',
    'tool',
    'runs',
    'a',
    'command',
    'in',
    'your',
    'workspace',
    'and',
    'returns',
    'its',
    'output;',
    'use',
    'it',
    'when',
    'you',
    'need',
    'to',
    'inspect',
    'files,',
    'search',
    'code',
    'or',
    'change',
    'them.',
    'Never',
    'guess',
    'paths:',
    '"quote"',
    'them\n-',
    'café',
    '→',
  ];
  let out = '';
  for (let i = seed; out.length < length; i += 7) out += `${words[i % words.length]} `;
  return out.slice(0, length);
}

function tool(name: string, i: number) {
  return {
    name,
    description: prose(i * 13, 1_400 + (i % 5) * 250),
    input_schema: {
      type: 'object',
      properties: {
        command: { type: 'string', description: prose(i, 160) },
        timeout: { type: 'number', description: 'Optional timeout in milliseconds (max 600000)' },
        path: { type: 'string', description: prose(i + 3, 120) },
        options: {
          type: 'array',
          items: { type: 'object', properties: { key: { type: 'string' }, value: { type: 'string' } } },
        },
      },
      required: ['command'],
      additionalProperties: false,
      $schema: 'http://json-schema.org/draft-07/schema#',
    },
  };
}

export function claudeCodeBody(options: { stream: boolean; model?: string }): Record<string, unknown> {
  const tools = TOOL_NAMES.map(tool);
  (tools.at(-1) as Record<string, unknown>).cache_control = { type: 'ephemeral' };
  return {
    model: options.model ?? 'claude-bench',
    max_tokens: 32_000,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: `<system-reminder>\n${prose(5, 3_000)}\n</system-reminder>` },
          { type: 'text', text: 'Find where the retry backoff is computed and make it cap at 30 s.' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: "I'll search for the backoff code." },
          { type: 'tool_use', id: 'toolu_01Bench0001', name: 'Grep', input: { pattern: 'backoff', path: 'src' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_01Bench0001', content: prose(11, 6_000) },
          {
            type: 'text',
            text: 'Say hello',
            cache_control: { type: 'ephemeral' },
          },
        ],
      },
    ],
    system: [
      { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude." },
      { type: 'text', text: prose(17, 8_000), cache_control: { type: 'ephemeral' } },
    ],
    tools,
    metadata: {
      user_id:
        'user_0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9_account__session_3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b',
    },
    temperature: 1,
    stream: options.stream,
  };
}
