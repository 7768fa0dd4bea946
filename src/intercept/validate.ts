import type { Json } from './types.ts';

/** Checks the shape the bridge itself relies on; everything finer is the upstream's to judge. */
export function validateCommon(body: Json, listKey: string): string | null {
  const list = body[listKey];
  if (Array.isArray(list) && list.some((item) => !item || typeof item !== 'object' || Array.isArray(item))) {
    return `${listKey}: every item must be an object`;
  }
  if (body.tools !== undefined && !Array.isArray(body.tools)) return 'tools: must be an array';
  if (body.stream !== undefined && typeof body.stream !== 'boolean') return 'stream: must be a boolean';
  return null;
}
