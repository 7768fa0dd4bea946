import { describe, expect, it } from 'vitest';
import { claudeCodeBody } from '../../bench/claude-code-body.ts';
import { chatCompletionsApi } from '../../src/intercept/chat-completions/index.ts';
import { ClientBody } from '../../src/intercept/client-body.ts';
import { prepareFirstCall } from '../../src/intercept/first-call.ts';
import { messagesApi } from '../../src/intercept/messages/index.ts';
import { responsesApi } from '../../src/intercept/responses/index.ts';
import { prependTools } from '../../src/intercept/tool-format.ts';
import type { ApiModule, Json } from '../../src/intercept/types.ts';
import { scanBody } from '../../src/limits/json-scan.ts';
import type { InjectedTool } from '../../src/mcp/types.ts';

const tool = (name: string, description: string): InjectedTool => ({
  name: `bmcp_test_${name}`,
  server: 'test',
  serverUrl: 'http://mcp.test',
  rawName: name,
  description,
  inputSchema: { type: 'object', properties: { text: { type: 'string', description: 'what to "echo" → back' } } },
});
const ONE = [tool('echo', 'Echoes.')];
const MANY = [tool('a', 'Quotes " and \\ and\nnewlines'), tool('b', 'Ünïcödé ✓ \u2028'), tool('c', '')];

const codexBody = (stream: boolean) => ({
  model: 'gpt-5-codex',
  instructions: 'You are Codex.',
  input: [
    { type: 'message', role: 'developer', content: [{ type: 'input_text', text: '<permissions>…</permissions>' }] },
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'list the files' }] },
  ],
  tools: [
    { type: 'function', name: 'shell', description: 'Runs a command', strict: false, parameters: { type: 'object' } },
    { type: 'namespace', name: 'mcp__fs', tools: [{ type: 'function', name: 'read' }] },
    { type: 'web_search' },
  ],
  tool_choice: 'auto',
  parallel_tool_calls: false,
  store: false,
  stream,
  include: ['reasoning.encrypted_content'],
  prompt_cache_key: 'f1d2a3b4',
});

/** Bodies as clients send them: compact JSON (what SDKs and agents produce), by API. */
const BODIES: Array<[string, ApiModule, Json]> = [
  ['Claude Code, streaming', messagesApi, claudeCodeBody({ stream: true })],
  ['Claude Code, blocking', messagesApi, claudeCodeBody({ stream: false })],
  [
    'messages without tools',
    messagesApi,
    { model: 'claude', max_tokens: 9, messages: [{ role: 'user', content: 'hi' }] },
  ],
  ['messages, empty tools', messagesApi, { model: 'claude', messages: [{ role: 'user', content: 'hi' }], tools: [] }],
  [
    'messages, "tools" nested and in strings',
    messagesApi,
    {
      messages: [{ role: 'user', content: [{ type: 'text', text: '{"tools":[],"x":"\\"}' }], tools: [1] }],
      model: 'claude',
      metadata: { tools: 'no' },
      tools: [{ name: 'mine', input_schema: { properties: { tools: { type: 'array' } } } }],
      stream: true,
    },
  ],
  ['Codex, streaming', responsesApi, codexBody(true)],
  ['Codex, blocking', responsesApi, codexBody(false)],
  ['responses, string input', responsesApi, { model: 'gpt-4.1', input: 'Say hello 👋', stream: true }],
  [
    'chat, no stream_options',
    chatCompletionsApi,
    { model: 'gpt-4.1', messages: [{ role: 'user', content: 'é' }], stream: true },
  ],
  [
    'chat, stream_options without usage',
    chatCompletionsApi,
    {
      model: 'gpt-4.1',
      stream_options: { include_obfuscation: false },
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      tools: [{ type: 'function', function: { name: 'mine', parameters: {} } }],
    },
  ],
  [
    'chat, usage asked for',
    chatCompletionsApi,
    {
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    },
  ],
  ['chat, blocking', chatCompletionsApi, { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] }],
];

/** What the bridge sent before splicing: the changed object, serialised. */
function serialised(api: ApiModule, client: Json, tools: readonly InjectedTool[]): string {
  const body = structuredClone(client);
  if (tools.length) prependTools(body, api.formatTools(tools));
  if (body.stream === true) api.prepareStreaming(body);
  return JSON.stringify(body);
}

/** As the interceptor does it: the body read by ClientBody (latin1 when it is not ASCII), then the first call. */
function first(api: ApiModule, raw: Buffer, tools: readonly InjectedTool[]) {
  const client = new ClientBody(raw);
  const { body, exact } = client;
  const result = prepareFirstCall(api, raw, body, tools, body.stream === true, scanBody(raw), exact);
  const parsed = JSON.parse(raw.toString('utf8')) as Json; // what the upstream must receive, parsed
  if (tools.length) prependTools(parsed, api.formatTools(tools));
  if (parsed.stream === true) api.prepareStreaming(parsed);
  return { ...result, parsed };
}

describe('the first upstream call’s bytes', () => {
  describe.each(BODIES)('%s', (_name, api, client) => {
    const compact = Buffer.from(JSON.stringify(client));

    it.each([
      ['one tool', ONE],
      ['several tools', MANY],
    ])('with %s injected: spliced, byte for byte what serialising the changed body gives', (_label, tools) => {
      const result = first(api, compact, tools);
      expect(Buffer.isBuffer(result.body)).toBe(true); // spliced, not serialised
      expect(result.body.toString()).toBe(serialised(api, client, tools));
      expect(result.body.toString()).toBe(JSON.stringify(result.parsed));
      expect(JSON.stringify(result.later())).toBe(JSON.stringify(result.parsed)); // what later calls start from
    });

    it('pretty-printed or spaced out: spliced, the same JSON once parsed', () => {
      for (const raw of [JSON.stringify(client, null, 2), ` \n${JSON.stringify(client, null, '\t')}\r\n `]) {
        const result = first(api, Buffer.from(raw), MANY);
        expect(Buffer.isBuffer(result.body)).toBe(true);
        expect(JSON.parse(result.body.toString())).toEqual(JSON.parse(serialised(api, client, MANY)));
      }
    });

    it('with nothing to inject: the client’s own bytes, unless streaming needs a change', () => {
      const result = first(api, compact, []);
      if (result.body === compact) return;
      expect(result.body.toString()).toBe(serialised(api, client, []));
    });
  });

  it('reads a body beyond ASCII as latin1, and takes text from it only where that is exact', () => {
    const raw = Buffer.from(
      JSON.stringify({
        model: 'gpt-4.1',
        messages: [{ role: 'user', content: 'résumé → \u00e9' }],
        metadata: { user_id: '{"session_id":"sé-1"}' },
        note: 'ü',
      }),
    );
    const client = new ClientBody(raw);
    expect(client.exact).toBe(false);
    const model = client.text(
      (b) => String(b.model),
      (m) => [m],
    );
    expect([model, client.exact]).toEqual(['gpt-4.1', false]); // ASCII: read from latin1, exact
    const prompt = client.text(
      (b) => b.messages[0].content as string,
      (p) => [p],
    );
    expect([prompt, client.exact]).toEqual(['résumé → é', true]); // beyond ASCII: read again as UTF-8
    expect(() => new ClientBody(Buffer.from('{"a":"é",}'))).toThrow(
      (() => {
        try {
          JSON.parse('{"a":"é",}');
        } catch (err) {
          return (err as Error).message;
        }
      })(),
    );
  });

  it('a streaming Chat body whose stream_options go beyond ASCII is serialised from a UTF-8 parse', () => {
    const client = { model: 'm', messages: [], stream: true, stream_options: { note: 'é' } };
    const result = first(chatCompletionsApi, Buffer.from(JSON.stringify(client)), ONE);
    expect(result.body.toString()).toBe(serialised(chatCompletionsApi, client, ONE));
  });

  it('serialises instead where a splice would not be exact', () => {
    const cases = [
      '{"model":"claude","messages":[],"tools":[],"tools":[{"name":"twice"}]}', // JSON.parse keeps the last
      '{"model":"claude","messages":[],"tool\\u0073":[{"name":"escaped"}]}',
      Buffer.concat([
        Buffer.from('{"model":"claude","messages":[{"role":"user","content":"'),
        Buffer.from([0xff]),
        Buffer.from('"}]}'),
      ]),
    ];
    for (const raw of cases) {
      const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
      const result = first(messagesApi, bytes, ONE);
      expect(result.body.toString()).toBe(JSON.stringify(result.parsed)); // not the client's bytes spliced
    }
  });
});
