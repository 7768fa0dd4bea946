import { sumOpenaiUsage } from '../openai-common.ts';
import type { ApiModule, Json } from '../types.ts';
import { chatPayload } from './payload.ts';
import { ChatRelay } from './streaming.ts';

export const chatCompletionsApi: ApiModule = {
  ...chatPayload,

  mergeResponses(responses, _turns, view) {
    const first = responses[0] as Json;
    const last = responses[responses.length - 1] as Json;
    const text = responses
      .map((r) => r.choices?.[0]?.message?.content)
      .filter((c): c is string => typeof c === 'string' && c.length > 0)
      .join('');
    const choice = (last.choices?.[0] ?? {}) as Json;
    const message = { ...(choice.message ?? {}), content: text || null } as Json;
    const clientCalls = view.visible((message.tool_calls ?? []) as Json[]);
    if (clientCalls.length) message.tool_calls = clientCalls;
    else delete message.tool_calls;
    return {
      ...last,
      id: first.id,
      choices: [{ ...choice, message }, ...(last.choices ?? []).slice(1)],
      usage: sumOpenaiUsage(responses.map((r) => r.usage)),
    };
  },

  createRelay: (sink, options) => new ChatRelay(sink, options),
};
