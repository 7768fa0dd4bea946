import { apiKeyCredentials, keySettings, poolKeys, splitBaseUrl } from '../../api-key.ts';
import type { PassthroughRoute, ProviderConfig, ProviderKind, RouteRequest, Target } from '../../kind.ts';
import { bodyModelTarget } from '../../retarget.ts';
import { EntraBearer } from './entra.ts';
import { azureErrors } from './errors.ts';

/** Azure's deployment names: letters, digits, `.`, `_` and `-`. */
const DEPLOYMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The deployment routes name the model in the URL; `stream` stays the body's. */
function deploymentTarget(request: RouteRequest): Target {
  const deployment = request.params.deployment ?? '';
  return DEPLOYMENT.test(deployment)
    ? { from: 'path', model: deployment }
    : { error: `invalid deployment name ${JSON.stringify(deployment.slice(0, 100))}`, kind: 'not_found' };
}

/** Read-only or housekeeping calls of both API styles, forwarded as they came (query included). */
const PASSTHROUGH: PassthroughRoute[] = ['/openai/v1', '/openai'].flatMap((root) => [
  { methods: ['GET'], path: `${root}/models`, models: 'list' as const },
  { methods: ['GET'], path: `${root}/models/:id`, models: 'one' as const },
  { methods: ['GET', 'DELETE'], path: `${root}/responses/:id` },
  { methods: ['GET'], path: `${root}/responses/:id/input_items` },
  { methods: ['POST'], path: `${root}/responses/:id/cancel` },
]);

interface Deployment {
  name: string;
  model: string;
}

const deploymentsOf = (config: ProviderConfig): Deployment[] =>
  Array.isArray(config.deployments) ? (config.deployments as Deployment[]) : [];

/**
 * Azure OpenAI (README "Pointing clients at the bridge"): the v1 API (`/openai/v1/…`, the model is
 * the deployment's name in the body) and the dated API (`/openai/deployments/{d}/chat/completions`
 * and `/openai/responses`, with `?api-version=`), bridged like OpenAI's. Upstream the bridge sends
 * its `api-key` (or a pool of them), or a Microsoft Entra ID token; clients may send their bridge
 * token as `api-key`, as Azure clients do.
 */
export const azureOpenaiKind = {
  type: 'azure-openai' as const,
  family: 'openai',
  genAiName: 'azure.ai.openai',
  summary:
    'Azure OpenAI: Chat Completions and Responses on the v1 and deployment routes (bridged), models and stored responses (passed through)',
  settings: {
    base_url: {
      type: 'string',
      format: 'uri',
      pattern: '^https?://',
      description: "The resource's endpoint, https://<resource>.openai.azure.com (without /openai).",
    },
    ...keySettings('api-key'),
    entra_id: {
      type: 'boolean',
      default: false,
      description:
        'Authenticate with Microsoft Entra ID tokens (DefaultAzureCredential: environment, workload identity, managed identity, Azure CLI) instead of a key.',
    },
    deployments: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'model'],
        properties: {
          name: { type: 'string', minLength: 1, description: 'The deployment name clients send.' },
          model: { type: 'string', minLength: 1, description: 'The model it runs, as the price table names it.' },
        },
      },
      description: 'The model each deployment runs, so its calls are priced as that model.',
    },
  },
  required: ['base_url'],
  errors: azureErrors,
  bridged: [
    { path: '/openai/v1/chat/completions', api: 'chat', upstreamPath: (r) => `/openai/v1/chat/completions${r.query}` },
    { path: '/openai/v1/responses', api: 'responses', upstreamPath: (r) => `/openai/v1/responses${r.query}` },
    { path: '/openai/responses', api: 'responses', upstreamPath: (r) => `/openai/responses${r.query}` },
    {
      path: '/openai/deployments/:deployment/chat/completions',
      api: 'chat',
      target: deploymentTarget,
      upstreamPath: (r, model) => `/openai/deployments/${encodeURIComponent(model)}/chat/completions${r.query}`,
    },
  ],
  passthrough: PASSTHROUGH,
  // An alias's target goes to the v1 API: it needs no api-version.
  retarget: bodyModelTarget({ chat: '/openai/v1/chat/completions', responses: '/openai/v1/responses' }),
  tokenHeaders: ['api-key'],
  // Azure answers 401 only for the key or token, which is the bridge's.
  refusedCredentials: (status) => status === 401,
  check(config, at) {
    const problems: string[] = [];
    const keyed = (config.api_key ?? '').trim() !== '' || poolKeys(config).length > 0;
    if (config.entra_id === true && keyed) {
      problems.push(`${at}.entra_id: set either entra_id or api_key/api_keys, not both`);
    }
    const names = deploymentsOf(config).map((d) => d.name);
    const twice = names.find((name, i) => names.indexOf(name) !== i);
    if (twice) problems.push(`${at}.deployments: "${twice}" is listed twice`);
    return problems;
  },
  connect(config, at) {
    // A base URL given with Azure's own /openai (or /openai/v1) is taken as the resource's endpoint.
    const { origin, basePath } = splitBaseUrl(config.base_url as string);
    const base = { origin, basePath: basePath.replace(/\/openai(\/v1)?$/, '') };
    const keyed = apiKeyCredentials(config, at, (headers, key) => {
      headers['api-key'] = key;
    });
    if (config.entra_id !== true) return { ...base, credentials: keyed };
    const entra = new EntraBearer(config.name);
    return {
      ...base,
      credentials: {
        ready: true,
        setting: `${at}.entra_id`,
        apply: (call) => entra.apply(call),
        applyKey: keyed.applyKey,
      },
    };
  },
  /** A deployment listed under `deployments:` is priced as the model it runs; any other by its name. */
  priceNames(model, config) {
    const deployment = deploymentsOf(config).find((d) => d.name === model);
    return [deployment ? deployment.model : model];
  },
  clientSetup: (url, config, token) => [
    `Azure OpenAI SDKs / Codex (provider "${config.name}"):`,
    `  export AZURE_OPENAI_ENDPOINT=${url}/${config.name}`,
    `  export AZURE_OPENAI_API_KEY=${token}`,
    `  # the v1 API: any OpenAI SDK with base URL ${url}/${config.name}/openai/v1`,
  ],
} satisfies ProviderKind;
