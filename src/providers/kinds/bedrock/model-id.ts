/**
 * Bedrock's `{modelId}`: a foundation model id (`anthropic.claude-sonnet-4-5-20250929-v1:0`), a
 * cross-region inference profile id (`us.anthropic.…`, `eu.`, `apac.`, `global.`), or the ARN of
 * a foundation model, inference profile, application inference profile or provisioned/custom model.
 */

/** Bedrock's own limit on a model identifier. */
export const MAX_MODEL_ID_LENGTH = 2048;

/** Every character any form of model id uses; anything else (`%`, spaces, `?`, `#`) is refused. */
const ALLOWED = /^[A-Za-z0-9._:/-]+$/;

/** Prefixes of system-defined cross-region inference profiles. */
const GEOGRAPHIES = new Set(['us', 'eu', 'apac', 'global', 'jp', 'au', 'ca', 'us-gov']);

const FOUNDATION = /^([a-z0-9-]{1,63})\.([a-z0-9][a-z0-9._:-]{0,255})$/;
const ARN =
  /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]):bedrock:([a-z0-9-]{1,20}):(\d{12})?:([a-z-]{1,40})\/(.+)$/;
const OPAQUE_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,1023}$/;

export type BedrockModelKind =
  | 'foundation-model'
  | 'inference-profile'
  | 'application-inference-profile'
  | 'provisioned-model'
  | 'custom-model'
  | 'imported-model';

const OPAQUE_KINDS = new Set<BedrockModelKind>([
  'application-inference-profile',
  'provisioned-model',
  'custom-model',
  'imported-model',
]);

export interface BedrockModelRef {
  /** The id as the client named it (decoded). */
  id: string;
  kind: BedrockModelKind;
  /** Set when the id is an ARN. */
  arn?: { partition: string; region: string; account: string | undefined; resource: string };
  /** The cross-region profile's geography (`us`, `global`), when it is one. */
  geography?: string;
  /** The model's vendor (`anthropic`), when the id says. */
  vendor?: string;
  /** The foundation model id underneath (`anthropic.claude-sonnet-4-5-20250929-v1:0`), when the id says. */
  foundationModel?: string;
  /**
   * The Anthropic model name (`claude-sonnet-4-5-20250929`), for prices and labels; the price
   * table resolves the dated name to its family. Unknown for application profiles and
   * provisioned or custom models, whose ARNs do not name the model.
   */
  anthropicModel?: string;
}

/** Decodes one URL path segment and parses it; null for anything malformed. */
export function parseModelIdSegment(segment: string): BedrockModelRef | null {
  if (segment.length > MAX_MODEL_ID_LENGTH * 3) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    return null;
  }
  return parseModelId(decoded);
}

/** Parses a decoded model id; null when it is none of the forms Bedrock accepts. */
export function parseModelId(id: string): BedrockModelRef | null {
  if (id.length === 0 || id.length > MAX_MODEL_ID_LENGTH || !ALLOWED.test(id)) return null;
  if (id.startsWith('arn:')) return parseArn(id);
  if (id.includes('/')) return null;
  return parseProfileOrFoundation(id);
}

function parseArn(id: string): BedrockModelRef | null {
  const m = ARN.exec(id);
  if (!m) return null;
  const [, partition = '', region = '', account, type = '', resource = ''] = m;
  const arn = { partition, region, account, resource };
  if (type === 'foundation-model') {
    if (account) return null; // foundation models are not owned by an account
    const ref = parseProfileOrFoundation(resource);
    return ref && ref.kind === 'foundation-model' ? { ...ref, id, arn } : null;
  }
  if (!account) return null;
  if (type === 'inference-profile') {
    const ref = parseProfileOrFoundation(resource);
    return ref && ref.kind === 'inference-profile' ? { ...ref, id, arn } : null;
  }
  if (!OPAQUE_KINDS.has(type as BedrockModelKind) || !OPAQUE_ID.test(resource)) return null;
  return { id, kind: type as BedrockModelKind, arn };
}

function parseProfileOrFoundation(id: string): BedrockModelRef | null {
  const dot = id.indexOf('.');
  const head = id.slice(0, dot);
  const rest = id.slice(dot + 1);
  // `us.anthropic.…`; an unknown short prefix in front of `anthropic.` is a geography Bedrock added since.
  const isProfile = dot > 0 && (GEOGRAPHIES.has(head) || (/^[a-z]{2,6}$/.test(head) && rest.startsWith('anthropic.')));
  const foundation = isProfile ? rest : id;
  const m = FOUNDATION.exec(foundation);
  if (!m) return null;
  const [, vendor = '', model = ''] = m;
  if (model.includes('..') || model.endsWith('.')) return null;
  const ref: BedrockModelRef = {
    id,
    kind: isProfile ? 'inference-profile' : 'foundation-model',
    vendor,
    foundationModel: foundation,
  };
  if (isProfile) ref.geography = head;
  if (vendor === 'anthropic') ref.anthropicModel = anthropicName(model);
  return ref;
}

/** `claude-sonnet-4-5-20250929-v1:0` → `claude-sonnet-4-5-20250929`; `claude-3-sonnet-20240229-v1:0:200k` likewise. */
function anthropicName(model: string): string {
  const withoutRevision = model.replace(/(?::\d+)?(?::\d+k)?$/, '');
  const withoutVersion = withoutRevision.replace(/-v\d+$/, '');
  // `claude-v2:1` is a model whose name is its version.
  return withoutVersion.includes('-') ? withoutVersion : withoutRevision;
}
