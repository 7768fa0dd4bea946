import { randomBytes, randomUUID } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { ProxyAgent } from 'undici';
import { CREDENTIALS_KEY_ENV } from '../../src/mcp/credentials.ts';
import type { RecordOp } from '../../src/store/records.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { waitUntil } from '../helpers/process.ts';

/** The Claude Code session the tests open as a thread. */
export const SESSION_ID = 'b7e2c1d4-3f5a-4c8e-9d21-6a0f42e1c9b3';
/** The session of the interception with cache reads and writes. */
const CACHED_SESSION = 'c4c4e5f6-1a2b-4c3d-8e9f-0a1b2c3d4e5f';
const CLAUDE_CODE = { 'user-agent': 'claude-cli/2.1.3 (external, cli)', 'x-claude-code-session-id': SESSION_ID };
const CODEX = {
  'user-agent': 'codex_cli_rs/0.170.0 (Debian 13; x86_64)',
  session_id: 'codex-7f3a',
  originator: 'codex_cli_rs',
};

export interface Person {
  id: string;
  username: string;
  token: string;
}

/** A bridge with real recorded traffic from several people, for the console to show. */
export interface ConsoleWorld {
  url: string;
  h: Harness;
  mcp: TestMcpServer;
  owner: Person;
  auditor: Person;
  /** A member: `dev`, the harness's own user. */
  dev: Person;
  alice: Person;
  /** dev's interception whose model called the injected `echo` tool. */
  toolCallId: string;
  /** dev's interception whose prompt (a pasted log with an AWS key id) was stored cut and redacted. */
  longPromptId: string;
  /** alice's interception: dev must not see it. */
  aliceInterceptionId: string;
  /**
   * dev's interception of two upstream calls, each 100 uncached + 20 cache-read + 15 cache-write
   * input tokens (output 25, then 15), with an injected call between them: 270 in, 40 out.
   */
  cachedId: string;
  /** Its session: it and a second turn of 600 in (500 uncached, 100 cache read) and 80 out. */
  cachedSession: string;
  /** A user deleted after twelve days of use: their spend stays, marked. */
  former: Person;
  /** The owner's interception, sent through the intercepting proxy to api.openai.com. */
  proxiedId: string;
  close(): Promise<void>;
}

const ask = (content: string, model = 'claude-sonnet-4-6') => ({
  model,
  max_tokens: 1024,
  messages: [{ role: 'user' as const, content }],
  tools: [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const } }],
});

/** The interception and session `cachedId` and `cachedSession` name, as the recorder writes them. */
function cachedSession(dev: Person, session: string): { id: string; ops: RecordOp[] } {
  const t0 = Date.now() - 3_600_000;
  const at = (ms: number) => new Date(t0 + ms);
  const id = randomUUID();
  const later = randomUUID();
  const usage = (interception: string, ms: number, response: string, counts: number[]): RecordOp => ({
    kind: 'token_usage',
    doc: {
      _id: randomUUID(),
      interception_id: interception,
      provider_response_id: response,
      input_tokens: counts[0] as number,
      cache_read_input_tokens: counts[1] as number,
      cache_write_input_tokens: counts[2] as number,
      output_tokens: counts[3] as number,
      cost_usd: 0.001,
      metadata: {},
      created_at: at(ms),
    },
  });
  const interception = (_id: string, ms: number, end: number, input: number[], tools: number) => ({
    kind: 'interception' as const,
    doc: {
      _id,
      initiator_id: dev.id,
      api_key_id: randomUUID(),
      provider: 'anthropic' as const,
      provider_name: 'anthropic',
      model: 'claude-sonnet-4-6',
      client: 'Claude Code',
      user_agent: 'claude-cli/2.1.3 (external, cli)',
      client_session_id: session,
      started_at: at(ms),
      ended_at: at(end),
      status: 'completed' as const,
      cost_usd: 0.002,
      totals: {
        input_tokens: input[0] as number,
        cache_read_input_tokens: input[1] as number,
        cache_write_input_tokens: input[2] as number,
        output_tokens: input[3] as number,
        tool_calls: tools,
      },
      metadata: {},
    },
  });
  const ops: RecordOp[] = [
    interception(id, 0, 40, [200, 40, 30, 40], 1),
    {
      kind: 'user_prompt',
      doc: {
        _id: randomUUID(),
        interception_id: id,
        provider_response_id: 'msg_c1',
        prompt: 'Cached',
        created_at: at(5),
      },
    },
    usage(id, 7, 'msg_c1', [100, 20, 15, 25]),
    {
      kind: 'tool_usage',
      doc: {
        _id: randomUUID(),
        interception_id: id,
        provider_response_id: 'msg_c1',
        tool_call_id: 'toolu_c1',
        server_url: 'http://127.0.0.1:9/mcp',
        tool: 'echo',
        input: '{"text":"hi"}',
        injected: true,
        invocation_error: null,
        output: 'hi',
        duration_ms: 10,
        metadata: { server: 'test' },
        created_at: at(18),
      },
    },
    usage(id, 30, 'msg_c2', [100, 20, 15, 15]),
    interception(later, 100, 219, [500, 100, 0, 80], 0),
    usage(later, 210, 'msg_c3', [500, 100, 0, 80]),
  ];
  return { id, ops };
}

/**
 * Earlier days of use, written through the store as the recorder would have (the SDK traffic
 * below all happens now): the overview's per-day charts need more than one day to show.
 */
function history(people: Person[]): RecordOp[] {
  const ops: RecordOp[] = [];
  const models = ['claude-sonnet-4-6', 'gpt-5', 'claude-haiku-4-5'];
  for (let day = 1; day <= 12; day++) {
    people.forEach((p, n) => {
      const session = randomUUID(); // one agent session per person and day
      const turns = ((day * 7 + n * 3) % 5) + 1;
      for (let t = 0; t < turns; t++) {
        const started = new Date(Date.now() - day * 86_400_000 - (n * 5 + t) * 600_000);
        const model = models[(day + n + t) % models.length] as string;
        const input = 800 + ((day * 131 + t * 71 + n * 17) % 2400);
        const output = 120 + ((day * 37 + t * 29) % 600);
        const cost = Number(((input * 3 + output * 15) / 1e6).toFixed(6));
        const id = randomUUID();
        const failed = (day + t + n) % 11 === 0;
        ops.push({
          kind: 'interception',
          doc: {
            _id: id,
            initiator_id: p.id,
            api_key_id: randomUUID(),
            provider: model.startsWith('gpt') ? 'openai' : 'anthropic',
            provider_name: model.startsWith('gpt') ? 'openai' : 'anthropic',
            model,
            client: model.startsWith('gpt') ? 'Codex' : 'Claude Code',
            user_agent: null,
            client_session_id: session,
            started_at: started,
            ended_at: new Date(started.getTime() + 4_000),
            status: failed ? 'failed' : 'completed',
            cost_usd: cost,
            totals: {
              input_tokens: input,
              output_tokens: output,
              cache_read_input_tokens: 0,
              cache_write_input_tokens: 0,
              tool_calls: 0,
            },
            metadata: {},
          },
        });
        ops.push({
          kind: 'token_usage',
          doc: {
            _id: randomUUID(),
            interception_id: id,
            provider_response_id: null,
            input_tokens: input,
            output_tokens: output,
            cache_read_input_tokens: 0,
            cache_write_input_tokens: 0,
            cost_usd: cost,
            metadata: {},
            created_at: new Date(started.getTime() + 3_000),
          },
        });
      }
    });
  }
  return ops;
}

export async function startConsoleWorld(): Promise<ConsoleWorld> {
  process.env[CREDENTIALS_KEY_ENV] ??= randomBytes(32).toString('base64');
  const mcp = await startTestMcpServer({ extraTools: 0 });
  const h = await startHarness('console', (url) => ({
    providers: [
      // Users may bring their own OpenAI key (the Me page's "My provider keys").
      { name: 'openai', type: 'openai', base_url: `${url}/v1`, api_key: 'sk-upstream-openai-key', byok: 'allowed' },
      { name: 'anthropic', type: 'anthropic', base_url: url, api_key: 'sk-ant-upstream-key' },
    ],
    mcp_servers: [
      // The fixtures' model calls bmcp_test_echo: the server must be named "test".
      { name: 'test', url: mcp.url, tool_allow_regex: '^(echo|fail)$' },
      { name: 'personal', url: mcp.url, per_user_credentials: true, tool_allow_regex: '^echo$' },
    ],
    budgets: { member: { usd: 5, period: 'month' } },
    recording: { max_field_bytes: '4KiB' }, // so a pasted log is stored cut
    proxy: { listen: '127.0.0.1:0', hosts: { 'api.openai.com': 'openai' }, tunnel: 'deny' },
  }));
  const bootstrap = h.bridge.bootstrap;
  if (!bootstrap) throw new Error('the harness store was not fresh: no bootstrap owner');
  const ownerUser = await h.bridge.ctx.users.byUsername(bootstrap.username);
  const owner = { id: ownerUser!._id, username: bootstrap.username, token: bootstrap.token };
  const made = async (username: string, role: 'member' | 'auditor') => ({
    username,
    ...(await h.bridge.user(username, role)),
  });
  const dev = { id: h.userId, username: 'dev', token: h.token };
  const alice = await made('alice', 'member');
  const auditor = await made('audra', 'auditor');

  const ended = async (n: number) =>
    waitUntil(async () => {
      await h.bridge.ctx.recorder.flush();
      const rows = await h.store.audit.list({}, { limit: 1000 });
      return rows.filter((d) => d.interception.ended_at !== null).length >= n;
    });

  // dev in Claude Code: a turn where the model calls the injected echo tool, then a client
  // tool, then one with thinking — one agent session.
  h.upstream.enqueue('anthropic-messages/injected-tool.sse', 'anthropic-messages/after-tool.sse');
  await h.anthropic.messages
    .stream(ask('Echo something from the test server'), { headers: CLAUDE_CODE })
    .finalMessage();
  await ended(1);
  const [withTool] = await h.store.audit.list({}, { limit: 1 });
  h.upstream.enqueue('anthropic-messages/mixed-tools.sse');
  await h.anthropic.messages.stream(ask('Check the weather and echo it'), { headers: CLAUDE_CODE }).finalMessage();
  h.upstream.enqueue('anthropic-messages/thinking.sse');
  await h.anthropic.messages.stream(ask('Think about why the build is slow'), { headers: CLAUDE_CODE }).finalMessage();
  // dev in Codex (OpenAI), and one request the upstream fails.
  h.upstream.enqueue('openai-chat/text.json', 'anthropic-messages/http-500.json');
  await h.openai.chat.completions.create(
    { model: 'gpt-5', messages: [{ role: 'user', content: 'Summarise the diff' }] },
    { headers: CODEX },
  );
  await h.anthropic.messages.create(ask('This one fails upstream'), { headers: CLAUDE_CODE }).catch(() => {});

  // A pasted build log, longer than recording.max_field_bytes, with a credential in it.
  const log = Array.from({ length: 300 }, (_, i) => `step ${i}: ok (cache hit)`).join('\n');
  h.upstream.enqueue('openai-chat/text.json');
  await h.openai.chat.completions.create(
    {
      model: 'gpt-5',
      messages: [{ role: 'user', content: `Why does CI fail? AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n${log}` }],
    },
    { headers: CODEX },
  );
  await ended(6);
  const [longPrompt] = await h.store.audit.list({}, { limit: 1 });

  // alice's own work, which dev must never see.
  const asAlice = new Anthropic({ baseURL: `${h.bridge.url}/anthropic`, apiKey: alice.token, maxRetries: 0 });
  h.upstream.enqueue('anthropic-messages/text.json');
  await asAlice.messages.create(ask('Private: draft the release notes'), {
    headers: { ...CLAUDE_CODE, 'x-claude-code-session-id': 'alice-session-1' },
  });
  // The owner's, from a client with its default base URL, through the intercepting proxy.
  const dispatcher = new ProxyAgent({
    uri: h.bridge.proxy!.url,
    token: `Bearer ${owner.token}`,
    requestTls: { ca: h.bridge.proxy!.leaves.ca.certificatePem },
  });
  const asOwner = new OpenAI({ apiKey: 'sk-placeholder', fetchOptions: { dispatcher }, maxRetries: 0 });
  h.upstream.enqueue('openai-chat/cached.json');
  await asOwner.chat.completions.create({ model: 'gpt-5', messages: [{ role: 'user', content: 'Review the config' }] });
  await dispatcher.close();
  await ended(8);
  const aliceRows = await h.store.audit.list({ initiator_id: alice.id }, { limit: 1 });
  const [proxied] = await h.store.audit.list({ initiator_id: owner.id }, { limit: 1 });

  // Someone who used the bridge for twelve days, then left.
  const formerUser = await made('former', 'member');
  const cached = cachedSession(dev, CACHED_SESSION);
  await h.store.records.write([...history([dev, alice, owner, formerUser]), ...cached.ops]);
  await h.bridge.ctx.users.delete(formerUser.id);
  // Teams: dev and alice share one with a budget; the owner is in another.
  const platform = await h.bridge.ctx.teams.create('platform', { budget: { usd: 50, period: 'month' } });
  const research = await h.bridge.ctx.teams.create('research');
  await h.bridge.ctx.teams.add(platform, dev.id);
  await h.bridge.ctx.teams.add(platform, alice.id);
  await h.bridge.ctx.teams.add(research, owner.id);
  return {
    url: h.bridge.url,
    h,
    mcp,
    owner,
    auditor,
    dev,
    alice,
    toolCallId: withTool!.interception._id,
    longPromptId: longPrompt!.interception._id,
    aliceInterceptionId: aliceRows[0]!.interception._id,
    cachedId: cached.id,
    cachedSession: CACHED_SESSION,
    former: formerUser,
    proxiedId: proxied!.interception._id,
    async close() {
      await h.close();
      await mcp.stop();
    },
  };
}
