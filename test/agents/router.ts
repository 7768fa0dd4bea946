import { readFileSync } from 'node:fs';
import type { FixtureFacts, ReplayUpstream, UpstreamRequest } from '../helpers/upstream.ts';

/**
 * Answers every request the agents make (through the bridge) from the recorded fixtures:
 * by path, by `stream`, and by whether the conversation ends in a tool result. A request it does
 * not know gets a provider-format 404 and is listed in `unexpected`, so a test can fail on it.
 */

/**
 * `text`: every model call answers with text. `tool`: a main call gets the injected echo call,
 * its follow-up the answer. `client-tool`: a main call gets a call of the agent's own tool
 * (Claude Code's `Read`, Codex's `exec_command`, both on `note.txt`), the follow-up the answer.
 * `annotate`: a main call that offers the bridge's MCP tool as Claude Code names it
 * (`mcp__aibridge__annotate_work`) gets a call of it, the follow-up the answer.
 */
export type Scenario = 'text' | 'tool' | 'client-tool' | 'annotate';

let agentManifest: Record<string, FixtureFacts> | undefined;

/** What `fixtures/agents/manifest.json` says the agents' own fixtures contain. */
export function agentFacts(): Record<string, FixtureFacts> {
  agentManifest ??= JSON.parse(
    readFileSync(new URL('../../fixtures/agents/manifest.json', import.meta.url), 'utf8'),
  ) as Record<string, FixtureFacts>;
  return agentManifest;
}

/** The client-tool round of each API: the call, and the answer once its result comes back. */
const CLIENT_TOOL = {
  anthropic: { call: 'agents/claude-code-read.sse', after: 'agents/claude-code-after-read.sse' },
  openai: { call: 'agents/codex-exec.sse', after: 'agents/codex-after-exec.sse' },
} as const;
const clientCallId = (api: keyof typeof CLIENT_TOOL) => agentFacts()[CLIENT_TOOL[api].call]!.tool_calls[0]!.id;

/** Claude Code calling annotate_work on the bridge's own MCP server, and the answer once it did. */
const ANNOTATE = { call: 'agents/claude-code-annotate.sse', after: 'agents/claude-code-after-annotate.sse' } as const;
export const ANNOTATE_TOOL = 'mcp__aibridge__annotate_work';
const annotateCallId = () => agentFacts()[ANNOTATE.call]!.tool_calls[0]!.id;

export interface Routed {
  method: string;
  path: string;
  fixture: string;
  /** Which API the request was for, by the upstream credential the bridge sent. */
  provider: 'anthropic' | 'openai' | 'unknown';
  model: string | null;
  stream: boolean;
}

export interface AgentRouter {
  scenario: Scenario;
  readonly routed: Routed[];
  readonly unexpected: string[];
  reset(): void;
}

const INJECTED_TOOL = 'bmcp_test_echo';

/** Anthropic: the tool_result ids in the last `user` turn (Claude Code may end with a `system` turn). */
function anthropicToolResults(body: any): string[] {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  const lastUser = [...messages].reverse().find((m) => m?.role === 'user');
  const blocks: any[] = Array.isArray(lastUser?.content) ? lastUser.content : [];
  return blocks.filter((b) => b?.type === 'tool_result').map((b) => String(b.tool_use_id));
}

/** OpenAI Responses: the call ids of the function call outputs the input ends with. */
function responsesToolResults(body: any): string[] {
  const input: any[] = Array.isArray(body?.input) ? body.input : [];
  const ids: string[] = [];
  for (let i = input.length - 1; i >= 0 && input[i]?.type === 'function_call_output'; i--) {
    ids.push(String(input[i].call_id));
  }
  return ids;
}

const offers = (body: any, name: string) => Array.isArray(body?.tools) && body.tools.some((t: any) => t?.name === name);
const offersInjected = (body: any) => offers(body, INJECTED_TOOL);

function modelCall(api: 'anthropic' | 'openai', body: any, scenario: Scenario, results: string[]): string {
  const family = api === 'anthropic' ? 'anthropic-messages' : 'openai-responses';
  const stream = body?.stream === true;
  const ext = stream ? 'sse' : 'json';
  if (results.includes(clientCallId(api))) return CLIENT_TOOL[api].after;
  if (api === 'anthropic' && results.includes(annotateCallId())) return ANNOTATE.after;
  if (results.length) return `${family}/after-tool.${ext}`;
  if (scenario === 'annotate' && api === 'anthropic' && stream && offers(body, ANNOTATE_TOOL)) return ANNOTATE.call;
  if (scenario === 'tool' && offersInjected(body)) return `${family}/injected-tool.${ext}`;
  if (scenario === 'client-tool' && stream) return CLIENT_TOOL[api].call;
  return `${family}/text.${ext}`;
}

/**
 * The fixture for an Anthropic Messages body, which is also what Bedrock and Vertex carry; `stream`
 * where the URL says it instead of the body.
 */
export function anthropicFixture(body: any, scenario: Scenario, stream = body?.stream === true): string {
  return modelCall('anthropic', { ...body, stream }, scenario, anthropicToolResults(body));
}

/** The fixture for an OpenAI Responses body, which is also what Azure OpenAI carries. */
export function responsesFixture(body: any, scenario: Scenario): string {
  return modelCall('openai', body, scenario, responsesToolResults(body));
}

function providerOf(request: UpstreamRequest): Routed['provider'] {
  if (request.headers['x-api-key']) return 'anthropic';
  if (request.headers.authorization) return 'openai';
  return 'unknown';
}

export function routeAgents(upstream: ReplayUpstream): AgentRouter {
  const router: AgentRouter = {
    scenario: 'text',
    routed: [],
    unexpected: [],
    reset() {
      this.scenario = 'text';
      this.routed.length = 0;
      this.unexpected.length = 0;
    },
  };
  upstream.setDefault((request) => {
    const provider = providerOf(request);
    const path = request.path.split('?')[0] as string;
    const body = request.json;
    let fixture: string | undefined;
    if (provider === 'anthropic') {
      if (request.method === 'POST' && path === '/v1/messages') {
        fixture = modelCall('anthropic', body, router.scenario, anthropicToolResults(body));
      } else if (request.method === 'POST' && path === '/v1/messages/count_tokens') {
        fixture = 'anthropic-passthrough/count-tokens.json';
      } else if (request.method === 'GET' && /^\/v1\/models(\/|$)/.test(path)) {
        fixture = 'anthropic-passthrough/models.json';
      }
    } else if (provider === 'openai') {
      if (request.method === 'POST' && path === '/v1/responses') {
        fixture = modelCall('openai', body, router.scenario, responsesToolResults(body));
      } else if (request.method === 'GET' && path === '/v1/models') {
        fixture = 'openai-passthrough/models.json';
      } else if (request.method === 'GET' && path.startsWith('/v1/models/')) {
        fixture = 'openai-passthrough/model.json';
      }
    }
    if (!fixture) {
      router.unexpected.push(`${request.method} ${request.path} (${provider})`);
      fixture = provider === 'openai' ? 'agents/not-found-openai.json' : 'agents/not-found-anthropic.json';
    }
    router.routed.push({
      method: request.method,
      path: request.path,
      fixture,
      provider,
      model: typeof body?.model === 'string' ? body.model : null,
      stream: body?.stream === true,
    });
    return fixture;
  });
  return router;
}
