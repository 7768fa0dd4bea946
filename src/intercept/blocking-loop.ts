import type { Finish, ToolLoop } from './tool-loop.ts';
import type { Json, Turn } from './types.ts';
import type { UpstreamReply } from './upstream.ts';

/** Reads whole JSON responses; the client gets the provider's bytes when nothing needs hiding, else one merged response. */
export async function blockingLoop(loop: ToolLoop): Promise<Finish> {
  const { api, channel, events, toolsInjected } = loop.deps;
  const responses: Json[] = [];
  const turns: Turn[] = [];
  let lastRaw = '';
  let lastHeaders: UpstreamReply['headers'] = {};
  for (let iteration = 0; ; iteration++) {
    const reply = await loop.call(iteration);
    if (reply.statusCode !== 200) return { status: 'failed', deliver: () => channel.relay(reply) };
    lastRaw = await reply.body.text();
    lastHeaders = reply.headers;
    let json: Json;
    try {
      json = JSON.parse(lastRaw) as Json;
    } catch {
      const message = 'upstream returned a body that is not JSON';
      events.upstreamEnded({ error: message });
      loop.metadata.error = message;
      return { status: 'failed', deliver: () => loop.fail('upstream', message) };
    }
    const turn = api.parseResponse(json);
    events.upstreamEnded({ turn });
    responses.push(json);
    turns.push(turn);
    const calls = loop.settle(turn, iteration);
    if (!calls) break;
    await loop.continue(turn, calls, iteration);
  }
  loop.metadata.iterations = turns.length;
  const hidden =
    (turns[0]?.toolCalls.some((c) => loop.view.owns(c.name)) ?? false) || (api.echoesTools && toolsInjected);
  if (turns.length === 1 && !hidden) {
    const raw = lastRaw;
    return { status: 'completed', deliver: () => channel.sendRaw(lastHeaders, raw) }; // nothing to hide: the provider's bytes
  }
  const merged = api.mergeResponses(responses, turns, loop.view);
  return { status: 'completed', deliver: () => channel.sendJson(lastHeaders, merged) };
}
