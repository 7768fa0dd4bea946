import { splitBaseUrl } from '../../api-key.ts';
import type { ErrorFormat } from '../../errors.ts';
import type { ProviderConfig, ProviderKind, RouteRequest, Target } from '../../kind.ts';
import { bedrockErrorName, bedrockErrorType } from './errors.ts';
import { parseModelId } from './model-id.ts';
import { sigv4Credentials } from './sigv4-credentials.ts';
import { bedrockClientStream, bedrockDecoder } from './stream.ts';

/** Bedrock's own shape: the type in `x-amzn-errortype` (the AWS SDK's exception class), `{message}` in the body. */
export const bedrockErrors: ErrorFormat = {
  body: (_kind, message) => ({ message }),
  headers: (kind) => ({ 'x-amzn-errortype': bedrockErrorType(kind) }),
};

/** The `anthropic_version` Bedrock's Messages bodies carry. */
const BEDROCK_ANTHROPIC_VERSION = 'bedrock-2023-05-31';

/** What AWS answers when a signature or its key is wrong: the bridge's credentials, never the client's. */
const CREDENTIAL_REFUSALS = new Set([
  'unrecognizedclientexception',
  'invalidsignatureexception',
  'incompletesignatureexception',
  'missingauthenticationtokenexception',
  'expiredtokenexception',
]);

/** `{modelId}` as AWS encodes it in a path: every reserved character escaped (an ARN's `:` and `/`). */
const modelSegment = (model: string) => encodeURIComponent(model);

/** The model is the URL's `{modelId}`, decoded, and recorded as the client sent it. */
const invokeTarget =
  (streaming: boolean) =>
  (request: RouteRequest): Target => {
    const id = request.params.modelId ?? '';
    return parseModelId(id)
      ? { from: 'path', model: id, streaming }
      : { error: 'The provided model identifier is invalid.' };
  };

const setting = (config: ProviderConfig, name: string): string => {
  const value = config[name];
  return typeof value === 'string' ? value.trim() : '';
};

/** Settings that only mean something together. */
function settingProblems(config: ProviderConfig, at: string): string[] {
  const problems: string[] = [];
  const has = (name: string) => setting(config, name) !== '';
  if (has('access_key_id') !== has('secret_access_key')) {
    const missing = has('access_key_id') ? 'secret_access_key' : 'access_key_id';
    problems.push(`${at}.${missing}: access_key_id and secret_access_key go together: set both or neither`);
  }
  if (has('session_token') && !has('access_key_id')) {
    problems.push(`${at}.session_token: is used only with access_key_id and secret_access_key`);
  }
  if (has('profile') && has('access_key_id')) {
    problems.push(`${at}.profile: set either a profile or access_key_id/secret_access_key, not both`);
  }
  for (const name of ['external_id', 'session_name']) {
    if (has(name) && !has('role_arn')) problems.push(`${at}.${name}: is used only with role_arn`);
  }
  return problems;
}

/**
 * Claude on AWS Bedrock (README "Pointing clients at the bridge"): InvokeModel and its response
 * stream, bridged like Anthropic Messages (the body is one, with `anthropic_version` and without
 * `model` or `stream`); upstream calls signed with SigV4; errors and streams in Bedrock's framing.
 */
export const bedrockKind = {
  type: 'bedrock' as const,
  family: 'anthropic',
  genAiName: 'aws.bedrock',
  summary:
    'AWS Bedrock: InvokeModel and InvokeModelWithResponseStream for Claude (bridged), CountTokens (passed through), signed with SigV4',
  settings: {
    region: {
      type: 'string',
      pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]+$',
      description: 'AWS region of the Bedrock runtime (us-east-1); requests are signed for it.',
    },
    base_url: {
      type: 'string',
      format: 'uri',
      pattern: '^https?://',
      description:
        'Upstream base URL; default https://bedrock-runtime.<region>.amazonaws.com (set it for a VPC endpoint).',
    },
    access_key_id: {
      type: 'string',
      description: 'AWS access key id; with secret_access_key. Empty: the standard AWS credential chain.',
    },
    secret_access_key: { type: 'string', description: 'AWS secret access key, with access_key_id.' },
    session_token: { type: 'string', description: 'Session token of temporary keys given above.' },
    profile: { type: 'string', description: 'A profile of the shared AWS config and credentials files.' },
    role_arn: {
      type: 'string',
      pattern: '^(arn:aws[a-z-]*:iam::[0-9]{12}:role/.+)?$',
      description: 'An IAM role assumed (through STS) with the credentials above.',
    },
    external_id: { type: 'string', description: 'External id the role requires.' },
    session_name: {
      type: 'string',
      pattern: '^([\\w+=,.@-]{2,64})?$',
      description: 'Role session name (default aibridge).',
    },
  },
  required: ['region'],
  errors: bedrockErrors,
  bridged: [
    {
      path: '/model/:modelId/invoke',
      api: 'messages',
      target: invokeTarget(false),
      upstreamPath: (_r, model) => `/model/${modelSegment(model)}/invoke`,
    },
    {
      path: '/model/:modelId/invoke-with-response-stream',
      api: 'messages',
      target: invokeTarget(true),
      upstreamPath: (_r, model) => `/model/${modelSegment(model)}/invoke-with-response-stream`,
    },
  ],
  passthrough: [
    // Free on Bedrock (like Anthropic's count_tokens): not a spend.
    {
      methods: ['POST'],
      path: '/model/:modelId/count-tokens',
      upstreamPath: (r) => `/model/${modelSegment(r.params.modelId ?? '')}/count-tokens`,
    },
    // Claude Code lists the control plane's inference profiles first, without credentials: it
    // gets an empty list, and nothing of the account behind the bridge.
    {
      methods: ['GET'],
      path: '/inference-profiles',
      anonymous: () => ({ status: 200, body: { inferenceProfileSummaries: [] } }),
    },
  ],
  // An Anthropic body as Bedrock takes it: the model in the URL, the stream in the method, Bedrock's version.
  retarget: (api, model, streaming) =>
    api === 'messages'
      ? {
          path: `/model/${modelSegment(model)}/${streaming ? 'invoke-with-response-stream' : 'invoke'}`,
          set: { anthropic_version: BEDROCK_ANTHROPIC_VERSION },
          remove: ['model', 'stream'],
        }
      : undefined,
  check: settingProblems,
  connect(config, at) {
    const baseUrl = setting(config, 'base_url') || `https://bedrock-runtime.${config.region}.amazonaws.com`;
    const { origin, basePath } = splitBaseUrl(baseUrl);
    return { origin, basePath, credentials: sigv4Credentials(config, at, origin) };
  },
  refusedCredentials: (status, headers) =>
    (status === 401 || status === 403) &&
    CREDENTIAL_REFUSALS.has(bedrockErrorName(String(headers['x-amzn-errortype'] ?? ''))),
  decoder: bedrockDecoder,
  clientStream: bedrockClientStream,
  /**
   * Bedrock bills Claude at Anthropic's rates through global inference profiles; in-region ids and
   * geographic profiles (`us.`, `eu.`…) under their own rows (`anthropic.<model>`), 10 % higher
   * for the newer models. Ids that do not name their model (application profiles, provisioned
   * models) have no price unless `pricing:` names them.
   */
  priceNames(model) {
    const ref = parseModelId(model);
    if (!ref?.anthropicModel) return [model];
    if (ref.geography === 'global') return [model, `global.anthropic.${ref.anthropicModel}`, ref.anthropicModel];
    return [model, `anthropic.${ref.anthropicModel}`];
  },
  clientSetup: (url, config, token) => [
    `Claude Code on Bedrock (provider "${config.name}"):`,
    '  export CLAUDE_CODE_USE_BEDROCK=1',
    `  export ANTHROPIC_BEDROCK_BASE_URL=${url}/${config.name}`,
    '  export CLAUDE_CODE_SKIP_BEDROCK_AUTH=1',
    `  export AWS_BEARER_TOKEN_BEDROCK=${token}`,
    `  export AWS_REGION=${config.region}`,
  ],
} satisfies ProviderKind;
