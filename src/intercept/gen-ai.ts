import type { Attributes } from '@opentelemetry/api';
import { isUpstreamTimeout } from '../limits/upstream-faults.ts';
import type { ToolRef } from '../mcp/types.ts';
import type { Turn } from './types.ts';

/**
 * Attributes of the OpenTelemetry semantic conventions for GenAI client inference and MCP tool
 * calls (still "development" status, now in their own `semantic-conventions-genai` repository;
 * `gen_ai.provider.name`, not the retired `gen_ai.system`). README "Traces" fixes our span names, so
 * these ride on `Intercept`, `Intercept.ProcessRequest.Upstream` and `…ToolCall` as they are.
 */

/** `openai.api.type` of each OpenAI API we bridge, whichever kind serves it (OpenAI, Azure, compatible servers). */
const OPENAI_API: Record<string, string> = { chat: 'chat_completions', responses: 'responses' };

/** `server.address` and `server.port` of a URL (the port its scheme implies when none is written). */
function serverAttributes(url: string | undefined): Attributes {
  if (!url) return {};
  try {
    const u = new URL(url);
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    return { 'server.address': u.hostname.replace(/^\[|\]$/g, ''), 'server.port': port };
  } catch {
    return {};
  }
}

export interface InferenceTarget {
  /** The kind's `gen_ai.provider.name` (`openai`, `anthropic`, `aws.bedrock`, `gcp.vertex_ai`…). */
  provider: string;
  /** The bridged API (`chat`, `responses`, `messages`). */
  api: string;
  origin: string | undefined;
  model: string;
  streaming: boolean;
}

/**
 * Known before an upstream call is sent, so set at span creation where samplers can see them.
 * Chat Completions, Responses and Messages are all the conventions' `chat` operation.
 */
export function inferenceAttributes(target: InferenceTarget): Attributes {
  const attributes: Attributes = {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': target.provider,
    'gen_ai.request.model': target.model,
    ...serverAttributes(target.origin),
  };
  if (target.streaming) attributes['gen_ai.request.stream'] = true; // the conventions leave it unset otherwise
  const api = OPENAI_API[target.api];
  if (api) attributes['openai.api.type'] = api;
  return attributes;
}

/** What the response said of itself. Input tokens count cached ones too, as the conventions define them. */
export function responseAttributes(turn: Turn): Attributes {
  const attributes: Attributes = {};
  if (turn.responseId) attributes['gen_ai.response.id'] = turn.responseId;
  if (turn.responseModel) attributes['gen_ai.response.model'] = turn.responseModel;
  if (turn.finishReasons.length) attributes['gen_ai.response.finish_reasons'] = turn.finishReasons;
  const u = turn.usage;
  if (u) {
    attributes['gen_ai.usage.input_tokens'] = u.input_tokens + u.cache_read_input_tokens + u.cache_write_input_tokens;
    attributes['gen_ai.usage.output_tokens'] = u.output_tokens;
    attributes['gen_ai.usage.cache_read.input_tokens'] = u.cache_read_input_tokens;
    attributes['gen_ai.usage.cache_creation.input_tokens'] = u.cache_write_input_tokens;
  }
  return attributes;
}

/** The client's session (Claude Code's, Codex's), so a backend shows the session as one conversation. */
export const conversationAttributes = (sessionId: string | null | undefined): Attributes =>
  sessionId ? { 'gen_ai.conversation.id': sessionId } : {};

/** An injected MCP tool the bridge runs: an `execute_tool` span that is also the MCP client's `tools/call`. */
export function toolAttributes(tool: ToolRef, callId: string): Attributes {
  return {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': tool.rawName,
    'gen_ai.tool.call.id': callId,
    // Run on the agent's side (here, the bridge), not handed to the client as a `function` is.
    'gen_ai.tool.type': 'extension',
    'mcp.method.name': 'tools/call',
    ...serverAttributes(tool.serverUrl),
  };
}

/**
 * `error.type` of a failed call: low-cardinality, as the conventions ask. An HTTP status when the
 * upstream answered, `timeout`, the socket error's code (`ECONNREFUSED`), else `_OTHER`.
 */
export function errorType(reason: unknown): string {
  if (typeof reason === 'number') return String(reason);
  if (isUpstreamTimeout(reason)) return 'timeout';
  const e = reason as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code) ? code : '_OTHER';
}
