import type { Json } from './types.ts';

/**
 * Longer than any real model name (a Bedrock ARN, a Vertex path, a fine-tune id): the name is
 * recorded, keys a circuit breaker and labels metrics, so a client must not choose megabytes.
 */
const MAX_MODEL_NAME = 512;

/** Checks the shape the bridge itself relies on; everything finer is the upstream's to judge. */
export function validateCommon(body: Json, listKey: string): string | null {
  if (typeof body.model === 'string' && body.model.length > MAX_MODEL_NAME) {
    return `model: a model name is at most ${MAX_MODEL_NAME} characters`;
  }
  const list = body[listKey];
  if (Array.isArray(list) && list.some((item) => !item || typeof item !== 'object' || Array.isArray(item))) {
    return `${listKey}: every item must be an object`;
  }
  if (body.tools !== undefined && !Array.isArray(body.tools)) return 'tools: must be an array';
  if (body.stream !== undefined && typeof body.stream !== 'boolean') return 'stream: must be a boolean';
  return null;
}

/** A token count the client set, or null when it set none (or nonsense the upstream will refuse). */
export const tokenCount = (value: unknown): number | null =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null;
