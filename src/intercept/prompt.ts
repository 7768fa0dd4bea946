import type { Json } from './types.ts';

const INSTRUCTION_ROLES = new Set(['system', 'developer']);

/**
 * The user message that opened this request's turn: the last conversation item, looking past
 * trailing instructions (Claude Code ends with a `system` message). A follow-up that only carries
 * tool results has none, so a conversation's prompt is recorded once, when the user typed it.
 */
export function openingUserMessage(items: unknown[]): Json | undefined {
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i] as Json | null;
    if (INSTRUCTION_ROLES.has(item?.role)) continue;
    return item?.role === 'user' && (!item.type || item.type === 'message') ? item : undefined;
  }
  return undefined;
}

/** A message's text: its string content, or its text parts of `partType` (the last, or all joined). */
export function textOf(message: Json | undefined, partType: string, pick: 'last' | 'joined'): string | null {
  if (!message) return null;
  if (typeof message.content === 'string') return message.content;
  if (!Array.isArray(message.content)) return null;
  const texts = (message.content as Json[])
    .filter((p) => p?.type === partType && typeof p.text === 'string')
    .map((p) => p.text as string);
  if (!texts.length) return null;
  return pick === 'last' ? (texts.at(-1) as string) : texts.join('\n');
}
