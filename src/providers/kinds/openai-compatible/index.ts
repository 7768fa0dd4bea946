import { apiKeyCredentials, keySettings, splitBaseUrl } from '../../api-key.ts';
import { openaiErrors } from '../../errors.ts';
import type { ProviderConfig, ProviderKind } from '../../kind.ts';
import { bodyModelTarget } from '../../retarget.ts';

/** Header names a configured `headers` entry may not set: the bridge's own framing, hop and credentials. */
const RESERVED = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'authorization',
  'x-aibridge-hop',
]);

const headersOf = (config: ProviderConfig): Record<string, string> => (config.headers ?? {}) as Record<string, string>;

/**
 * Any server that speaks OpenAI's Chat Completions (vLLM, Ollama, LM Studio, OpenRouter, Gemini's
 * OpenAI endpoint…), bridged like OpenAI's; `/v1/responses` too, for servers that have it (the
 * others answer it 404 themselves). The key is optional (a local server takes none) and goes as
 * `Authorization: Bearer`, with any extra `headers` the server wants. Models the price table
 * does not know cost `null` (README "Cost and budgets").
 */
export const openaiCompatibleKind = {
  type: 'openai-compatible' as const,
  family: 'openai',
  // Not one of the GenAI conventions' well-known providers: the server behind it is the operator's to say.
  genAiName: 'openai_compatible',
  summary: 'Any OpenAI-compatible server: Chat Completions and Responses (bridged), models (passed through)',
  settings: {
    base_url: {
      type: 'string',
      format: 'uri',
      pattern: '^https?://',
      description: "The server's OpenAI base URL, with its /v1 (http://localhost:11434/v1).",
    },
    ...keySettings('Authorization: Bearer; optional'),
    headers: {
      type: 'object',
      additionalProperties: { type: 'string' },
      default: {},
      description: 'Extra headers sent upstream with every call (OpenRouter\u2019s HTTP-Referer and X-Title…).',
    },
  },
  required: ['base_url'],
  errors: openaiErrors,
  bridged: [
    { path: '/v1/chat/completions', api: 'chat', upstreamPath: (r) => `/chat/completions${r.query}` },
    { path: '/v1/responses', api: 'responses', upstreamPath: (r) => `/responses${r.query}` },
  ],
  passthrough: [
    { methods: ['GET'], path: '/v1/models', models: 'list', upstreamPath: (_r, path) => path.replace(/^\/v1/, '') },
    { methods: ['GET'], path: '/v1/models/:id', models: 'one', upstreamPath: (_r, path) => path.replace(/^\/v1/, '') },
  ],
  retarget: bodyModelTarget({ chat: '/chat/completions', responses: '/responses' }),
  check(config, at) {
    return Object.keys(headersOf(config))
      .filter((name) => RESERVED.has(name.toLowerCase()) || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
      .map((name) => `${at}.headers.${name}: is set by the bridge itself, or is not a header name`);
  },
  clientSetup: (url, config, token) => [
    `OpenAI SDKs / Codex (provider "${config.name}", OpenAI-compatible):`,
    `  export OPENAI_BASE_URL=${url}/${config.name}/v1`,
    `  export OPENAI_API_KEY=${token}`,
  ],
  connect(config, at) {
    const extra = Object.entries(headersOf(config)).map(([name, value]) => [name.toLowerCase(), value] as const);
    return {
      ...splitBaseUrl(config.base_url as string),
      credentials: apiKeyCredentials(
        config,
        at,
        (headers, key) => {
          for (const [name, value] of extra) headers[name] = value;
          if (key) headers.authorization = `Bearer ${key}`;
        },
        true,
      ),
    };
  },
} satisfies ProviderKind;
