import { apiKeyCredentials, keySettings, splitBaseUrl } from '../../api-key.ts';
import { openaiErrors } from '../../errors.ts';
import type { PassthroughRoute, ProviderKind, RouteRequest } from '../../kind.ts';
import { bodyModelTarget } from '../../retarget.ts';

/** OpenAI base URLs end in /v1 by convention; the client's paths start with it too. */
const underV1 = (path: string) => path.replace(/^\/v1(?=\/|$)/, '');

/**
 * The passthrough routes of the OpenAI API, each an exact shape with the methods its reference
 * allows.
 */
export const OPENAI_PASSTHROUGH: PassthroughRoute[] = (
  [
    { methods: ['GET'], path: '/v1/models', models: 'list' },
    { methods: ['GET'], path: '/v1/models/:id', models: 'one' },
    { methods: ['POST'], path: '/v1/responses/input_tokens' },
    { methods: ['GET', 'DELETE'], path: '/v1/responses/:id' },
    { methods: ['GET'], path: '/v1/responses/:id/input_items' },
    { methods: ['POST'], path: '/v1/responses/:id/cancel' },
    { methods: ['POST'], path: '/v1/conversations' },
    { methods: ['GET', 'POST', 'DELETE'], path: '/v1/conversations/:id' },
    { methods: ['GET', 'POST'], path: '/v1/conversations/:id/items' },
    { methods: ['GET', 'DELETE'], path: '/v1/conversations/:id/items/:item_id' },
  ] satisfies PassthroughRoute[]
).map((route) => ({ ...route, upstreamPath: (_r: RouteRequest, clientPath: string) => underV1(clientPath) }));

export const openaiKind = {
  type: 'openai' as const,
  family: 'openai',
  genAiName: 'openai',
  summary: 'OpenAI: Chat Completions and Responses (bridged), models, responses and conversations (passed through)',
  settings: {
    base_url: {
      type: 'string',
      format: 'uri',
      pattern: '^https?://',
      description: 'Upstream base URL, with /v1.',
    },
    ...keySettings('Authorization: Bearer'),
  },
  required: ['base_url'],
  errors: openaiErrors,
  bridged: [
    { path: '/v1/chat/completions', api: 'chat', upstreamPath: (r) => `/chat/completions${r.query}` },
    { path: '/v1/responses', api: 'responses', upstreamPath: (r) => `/responses${r.query}` },
    // A compaction runs a model (billed): recorded, costed and budgeted like any call, with no tools to inject.
    {
      path: '/v1/responses/compact',
      api: 'responses',
      tools: false,
      upstreamPath: (r) => `/responses/compact${r.query}`,
    },
  ],
  passthrough: OPENAI_PASSTHROUGH,
  retarget: bodyModelTarget({ chat: '/chat/completions', responses: '/responses' }),
  // Codex's built-in provider takes its URL from config.toml only, and its key from CODEX_API_KEY
  // (it ignores OPENAI_API_KEY); it talks Responses over WebSocket, which the bridge serves.
  clientSetup: (url, config, token) => [
    `OpenAI SDKs (provider "${config.name}"):`,
    `  export OPENAI_BASE_URL=${url}/${config.name}/v1`,
    `  export OPENAI_API_KEY=${token}`,
    `Codex (provider "${config.name}"): put openai_base_url = "${url}/${config.name}/v1" at the top of ~/.codex/config.toml, then`,
    `  export CODEX_API_KEY=${token}`,
  ],
  connect(config, at) {
    return {
      ...splitBaseUrl(config.base_url as string),
      credentials: apiKeyCredentials(config, at, (headers, key) => {
        headers.authorization = `Bearer ${key}`;
      }),
    };
  },
} satisfies ProviderKind;
