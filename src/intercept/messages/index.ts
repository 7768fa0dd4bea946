import type { ApiModule, Json } from '../types.ts';
import { messagesPayload } from './payload.ts';
import { MessagesRelay } from './streaming.ts';

export const messagesApi: ApiModule = {
  ...messagesPayload,

  mergeResponses(responses, turns, view) {
    const first = responses[0] as Json;
    const last = responses[responses.length - 1] as Json;
    const content = responses.flatMap((r) => view.visible((r.content ?? []) as Json[]));
    const sum = (key: 'input_tokens' | 'output_tokens' | 'cache_read_input_tokens' | 'cache_write_input_tokens') =>
      turns.reduce((n, t) => n + (t.usage?.[key] ?? 0), 0);
    return {
      ...last,
      id: first.id,
      content,
      usage: {
        ...last.usage,
        input_tokens: sum('input_tokens'),
        output_tokens: sum('output_tokens'),
        cache_read_input_tokens: sum('cache_read_input_tokens'),
        cache_creation_input_tokens: sum('cache_write_input_tokens'),
      },
    };
  },

  createRelay: (sink, options) => new MessagesRelay(sink, options),
};
