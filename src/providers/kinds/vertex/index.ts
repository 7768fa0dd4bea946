import { splitBaseUrl } from '../../api-key.ts';
import type { ErrorFormat } from '../../errors.ts';
import type { ProviderConfig, ProviderKind, RouteRequest, Target } from '../../kind.ts';
import { googleBearerCredentials } from './bearer-credentials.ts';
import { vertexError } from './errors.ts';

/** Google's error JSON (`{"error": {"code", "message", "status"}}`), which the Anthropic Vertex SDK reads. */
export const vertexErrors: ErrorFormat = {
  body: (kind, message) => vertexError(kind, message).body as unknown as Record<string, unknown>,
};

/** Where Claude runs: the client's path names a project and location too, but only the configured ones are used. */
const MODELS = '/v1/projects/:project/locations/:location/publishers/anthropic/models';

/** `{model}:{method}`, the last path segment; Vertex model ids look like `claude-sonnet-4-5@20250929`. */
const MODEL_ACTION = /^(.+):([A-Za-z]+)$/;
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$/;
const METHODS: Record<string, boolean> = { rawPredict: false, streamRawPredict: true };

function target(request: RouteRequest): Target {
  const segment = request.params.modelAction ?? '';
  const [, model = '', method = ''] = MODEL_ACTION.exec(segment) ?? [];
  if (!Object.hasOwn(METHODS, method)) {
    return {
      error: `no method ${JSON.stringify(method || segment)} here: use :rawPredict or :streamRawPredict`,
      kind: 'not_found',
    };
  }
  if (!MODEL.test(model))
    return { error: `invalid model ${JSON.stringify(model.slice(0, 200))}`, kind: 'invalid_request' };
  return { from: 'path', model, streaming: METHODS[method] as boolean };
}

/** The `anthropic_version` Vertex's Messages bodies carry. */
const VERTEX_ANTHROPIC_VERSION = 'vertex-2023-10-16';

const region = (config: ProviderConfig) => String(config.region);

/** Vertex's endpoint for a location: the global one, a multi-region one (`us`, `eu`), or the region's own. */
function defaultBaseUrl(location: string): string {
  if (location === 'global') return 'https://aiplatform.googleapis.com';
  if (location === 'us' || location === 'eu') return `https://aiplatform.${location}.rep.googleapis.com`;
  return `https://${location}-aiplatform.googleapis.com`;
}

/**
 * Claude on Google Vertex AI (README "Pointing clients at the bridge"): rawPredict and
 * streamRawPredict bridged like Anthropic Messages (the body is one, with `anthropic_version` and
 * without `model`), on the configured project and region, with a Google access token.
 */
export const vertexKind = {
  type: 'vertex' as const,
  family: 'anthropic',
  genAiName: 'gcp.vertex_ai',
  summary: 'Google Vertex AI: rawPredict and streamRawPredict for Claude (bridged), count-tokens (passed through)',
  settings: {
    project: {
      type: 'string',
      pattern: '^([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$',
      description: 'Google Cloud project id whose Vertex AI runs the models.',
    },
    region: {
      type: 'string',
      pattern: '^[a-z]+(-[a-z]+[0-9]+)?$',
      description: 'Vertex AI location: a region (us-east5), a multi-region (us, eu) or global.',
    },
    credentials_file: {
      type: 'string',
      description: 'A service-account key file (its token_uri is honoured); empty: Application Default Credentials.',
    },
    base_url: {
      type: 'string',
      format: 'uri',
      pattern: '^https?://',
      description:
        "Upstream base URL, without /v1; default the region's endpoint (https://<region>-aiplatform.googleapis.com).",
    },
  },
  required: ['project', 'region'],
  errors: vertexErrors,
  bridged: [
    // The model and method share the last segment; :rawPredict answers whole, :streamRawPredict streams SSE.
    {
      path: `${MODELS}/:modelAction`,
      api: 'messages',
      target,
      upstreamPath: (r, model) => `/${model}:${MODEL_ACTION.exec(r.params.modelAction ?? '')?.[2]}`,
    },
  ],
  passthrough: [
    // `::` is a literal colon in a route; the model is in the body here. Free, like Anthropic's count_tokens.
    { methods: ['POST'], path: `${MODELS}/count-tokens::rawPredict`, upstreamPath: () => '/count-tokens:rawPredict' },
  ],
  // An Anthropic body as Vertex takes it: the model and method in the URL, Vertex's version.
  retarget: (api, model, streaming) =>
    api === 'messages'
      ? {
          path: `/${model}:${streaming ? 'streamRawPredict' : 'rawPredict'}`,
          set: { anthropic_version: VERTEX_ANTHROPIC_VERSION, ...(streaming ? { stream: true } : {}) },
          remove: ['model'],
        }
      : undefined,
  // Google answers 401 only for the access token, which is the bridge's; a 403 (no permission on the model) says what it means.
  refusedCredentials: (status) => status === 401,
  droppedHeaders: ['x-goog-user-project'], // names a project to bill the client's own credentials to
  connect(config, at) {
    const base =
      typeof config.base_url === 'string' && config.base_url ? config.base_url : defaultBaseUrl(region(config));
    const { origin, basePath } = splitBaseUrl(base);
    // Every upstream path is under the configured project's models; a base URL's own /v1 is not doubled.
    const models = `/v1/projects/${config.project}/locations/${region(config)}/publishers/anthropic/models`;
    return {
      origin,
      basePath: basePath.replace(/\/v1$/, '') + models,
      credentials: googleBearerCredentials(config, at),
    };
  },
  /**
   * Vertex bills Claude at Anthropic's rates on the global endpoint; regional and multi-region
   * endpoints under their own rows (`vertex.<model>`), 10 % higher for the newer models.
   */
  priceNames(model, config) {
    const undated = model.split('@', 1)[0] as string;
    return region(config) === 'global' ? [model, undated] : [`vertex.${model}`, `vertex.${undated}`];
  },
  clientSetup: (url, config, token) => [
    `Claude Code on Vertex AI (provider "${config.name}"):`,
    '  export CLAUDE_CODE_USE_VERTEX=1',
    `  export ANTHROPIC_VERTEX_BASE_URL=${url}/${config.name}/v1`,
    '  export CLAUDE_CODE_SKIP_VERTEX_AUTH=1',
    `  export ANTHROPIC_VERTEX_PROJECT_ID=${config.project}`,
    `  export CLOUD_ML_REGION=${region(config)}`,
    `  export ANTHROPIC_AUTH_TOKEN=${token}`,
  ],
} satisfies ProviderKind;
