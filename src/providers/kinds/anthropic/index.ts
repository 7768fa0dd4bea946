import { apiKeyCredentials, keySettings, splitBaseUrl } from '../../api-key.ts';
import { anthropicErrors } from '../../errors.ts';
import type { ProviderKind } from '../../kind.ts';

export const anthropicKind = {
  type: 'anthropic' as const,
  family: 'anthropic',
  genAiName: 'anthropic',
  summary: 'Anthropic: Messages (bridged), models and count_tokens (passed through)',
  settings: {
    base_url: {
      type: 'string',
      format: 'uri',
      pattern: '^https?://',
      description: 'Upstream base URL, without /v1.',
    },
    ...keySettings('x-api-key'),
  },
  required: ['base_url'],
  errors: anthropicErrors,
  // Claude Code sends `?beta=true`: the query goes along.
  bridged: [{ path: '/v1/messages', api: 'messages', upstreamPath: (r) => `/v1/messages${r.query}` }],
  passthrough: [
    { methods: ['GET'], path: '/v1/models', models: 'list' },
    { methods: ['GET'], path: '/v1/models/:id', models: 'one' },
    { methods: ['POST'], path: '/v1/messages/count_tokens' },
  ],
  // A body from a Bedrock or Vertex route names its model and version its own way.
  retarget: (api, model, streaming) =>
    api === 'messages'
      ? { path: '/v1/messages', set: { model, ...(streaming ? { stream: true } : {}) }, remove: ['anthropic_version'] }
      : undefined,
  clientSetup: (url, config, token) => [
    `Claude Code / Anthropic SDKs (provider "${config.name}"):`,
    `  export ANTHROPIC_BASE_URL=${url}/${config.name}`,
    `  export ANTHROPIC_AUTH_TOKEN=${token}`,
  ],
  connect(config, at) {
    return {
      ...splitBaseUrl(config.base_url as string),
      credentials: apiKeyCredentials(config, at, (headers, key) => {
        headers['x-api-key'] = key;
      }),
    };
  },
} satisfies ProviderKind;
