import { SseParser } from '../providers/sse.ts';
import type { Finish, ToolLoop } from './tool-loop.ts';
import type { StreamRelay, Turn } from './types.ts';
import { readSnippet, type UpstreamReply } from './upstream.ts';

/** A turn read to its end, or why not: `relayed` when the upstream's own error event already reached the client. */
type Read = { turn: Turn } | { error: string; relayed: boolean };

/** Reads one upstream stream into the relay. */
async function pump(reply: UpstreamReply, relay: StreamRelay, loop: ToolLoop): Promise<Read> {
  const { signal } = loop.deps;
  const decoder = reply.decoder ?? loop.deps.decoder;
  const parser = decoder ? decoder() : new SseParser();
  try {
    for await (const chunk of reply.body) {
      for (const event of parser.push(chunk)) relay.onEvent(event);
      if (relay.upstreamError) return { error: relay.upstreamError, relayed: true };
    }
  } catch (err) {
    if (signal.aborted) throw err; // the client left; nothing to tell it
    return { error: `upstream stream broke (${(err as { code?: string }).code ?? 'connection lost'})`, relayed: false };
  }
  const turn = relay.endTurn();
  return turn ? { turn } : { error: 'upstream stream ended before the response was complete', relayed: false };
}

/**
 * Relays events as they arrive, with a keep-alive while tools run; the events that end a
 * turn are held until the loop knows whether another turn follows.
 */
export async function streamingLoop(loop: ToolLoop): Promise<Finish> {
  const { api, channel, events, limits, clientWantsUsage } = loop.deps;
  let lastWrite = Date.now();
  const sink = {
    write(text: string) {
      lastWrite = Date.now();
      channel.write(text);
    },
  };
  const relay = api.createRelay(sink, { view: loop.view, clientWantsUsage });
  loop.failStream = (kind, message) => relay.fail(kind, message);
  const keepAlive = setInterval(
    () => {
      if (channel.started && Date.now() - lastWrite >= limits.keepAliveMs) relay.keepAlive();
    },
    Math.max(50, Math.min(1_000, limits.keepAliveMs / 2)),
  );
  try {
    for (let iteration = 0; ; iteration++) {
      const reply = await loop.call(iteration);
      if (reply.statusCode !== 200) {
        if (iteration === 0) return { status: 'failed', deliver: () => channel.relay(reply) };
        const message = `upstream answered ${reply.statusCode}: ${await readSnippet(reply)}`;
        return { status: 'failed', deliver: () => relay.fail('upstream', message) };
      }
      if (iteration === 0) channel.openStream(reply.headers);
      const read = await pump(reply, relay, loop);
      if (!('turn' in read)) {
        events.upstreamEnded({ error: read.error });
        loop.metadata.error = read.error;
        return { status: 'failed', deliver: () => (read.relayed ? undefined : relay.fail('upstream', read.error)) };
      }
      events.upstreamEnded({ turn: read.turn });
      const calls = loop.settle(read.turn, iteration);
      if (!calls) {
        loop.metadata.iterations = iteration + 1;
        return { status: 'completed', deliver: () => relay.finish() };
      }
      await loop.continue(read.turn, calls, iteration);
      relay.nextTurn();
    }
  } finally {
    clearInterval(keepAlive);
  }
}
