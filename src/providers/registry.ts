import type { ProviderKind } from './kind.ts';
import { anthropicKind } from './kinds/anthropic/index.ts';
import { azureOpenaiKind } from './kinds/azure-openai/index.ts';
import { bedrockKind } from './kinds/bedrock/index.ts';
import { openaiKind } from './kinds/openai/index.ts';
import { openaiCompatibleKind } from './kinds/openai-compatible/index.ts';
import { vertexKind } from './kinds/vertex/index.ts';

/**
 * Every provider kind the bridge speaks, one folder each under kinds/. Config validation, record
 * types and API schemas take their lists from here: adding a kind is its folder, its prices,
 * fixtures and tests, and one line below.
 */
export const KINDS = [
  openaiKind,
  anthropicKind,
  bedrockKind,
  vertexKind,
  azureOpenaiKind,
  openaiCompatibleKind,
] as const satisfies readonly ProviderKind[];

export type ProviderType = (typeof KINDS)[number]['type'];

export const PROVIDER_TYPES: readonly string[] = KINDS.map((k) => k.type);

/**
 * Headers in which some kind's clients send credentials (Azure's `api-key`: the bridge token) or
 * bill their own (`x-goog-user-project`): never forwarded by any provider, so a request an alias
 * sends to a provider of another kind cannot carry them there either.
 */
export const CLIENT_CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(
  KINDS.flatMap((k: ProviderKind) => [...(k.tokenHeaders ?? []), ...(k.droppedHeaders ?? [])]),
);

const BY_TYPE = new Map<string, ProviderKind>(KINDS.map((k) => [k.type, k]));

/** The kind of a configured type; the schema admits only known types, so this always finds one. */
export function kindOf(type: string): ProviderKind {
  const kind = BY_TYPE.get(type);
  if (!kind) throw new Error(`unknown provider type "${type}"`);
  return kind;
}
