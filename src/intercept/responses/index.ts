import { sumOpenaiUsage } from '../openai-common.ts';
import type { ApiModule, Json } from '../types.ts';
import { responsesPayload, withoutInjectedTools } from './payload.ts';
import { ResponsesRelay } from './streaming.ts';

export const responsesApi: ApiModule = {
  ...responsesPayload,

  /** The last response's id stays: a client chaining with previous_response_id needs the final one. */
  mergeResponses(responses, _turns, view) {
    const last = responses[responses.length - 1] as Json;
    const output = responses.flatMap((r) => view.visible((r.output ?? []) as Json[]));
    return withoutInjectedTools({ ...last, output, usage: sumOpenaiUsage(responses.map((r) => r.usage)) }, view);
  },

  createRelay: (sink, options) => new ResponsesRelay(sink, options),
};
