import { describe, expect, it } from 'vitest';

/** The console's timeline, a plain browser module (events() needs no DOM). */
const { events } = await import(new URL('../../src/console/assets/parts/timeline.js', import.meta.url).href);

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const usage = (id: string, at: number) => ({
  provider_response_id: id,
  input_tokens: 100,
  cache_read_input_tokens: 20,
  cache_write_input_tokens: 15,
  output_tokens: 20,
  created_at: iso(at),
});
const tool = (id: string, endAt: number, durationMs: number) => ({
  provider_response_id: id,
  tool: 'echo',
  injected: true,
  invocation_error: null,
  duration_ms: durationMs,
  created_at: iso(endAt),
});

/** One interception: a prompt, a response at +7 ms that asks for echo, echo, the follow-up response, the end. */
const interception = (echo: ReturnType<typeof tool>) => ({
  started_at: iso(0),
  ended_at: iso(30),
  status: 'completed',
  user_prompts: [{ created_at: iso(5) }],
  token_usages: [usage('msg_1', 7), usage('msg_2', 25)],
  tool_usages: [echo],
  model_thoughts: [{ created_at: iso(8) }],
});

const texts = (i: object) => (events(i) as Array<{ text: string }>).map((e) => e.text);

describe('the console’s timeline', () => {
  it('lists a loop in the order of cause: prompt, response, its thought, the tool it asked for, the next response, the end', () => {
    // As the bridge records it now: the call's end minus its duration falls after its response.
    expect(texts(interception(tool('msg_1', 20, 10)))).toEqual([
      'Prompt recorded',
      'Upstream response 1: 135 in · 20 out',
      'Thought',
      'Tool echo ran for 10 ms',
      'Upstream response 2: 135 in · 20 out',
      'Ended (completed)',
    ]);
  });

  it('never puts a tool before the response that asked for it, even from a record that says so', () => {
    // Recorded by an older bridge: ended at +16 after running 10 ms, so "started" at +6, before its response at +7.
    const list = events(interception(tool('msg_1', 16, 10))) as Array<{ text: string; start: number; end?: number }>;
    const response = list.findIndex((e) => e.text.startsWith('Upstream response 1'));
    const echo = list.findIndex((e) => e.text.startsWith('Tool echo'));
    expect(echo).toBeGreaterThan(response);
    expect(list[echo]!.start).toBe(7);
    expect(list[echo]!.end).toBe(16);
  });

  it('orders events of one instant by cause', () => {
    const i = interception(tool('msg_1', 17, 10)); // starts at +7, the response's own instant
    i.user_prompts = [{ created_at: iso(7) }];
    expect(texts(i).slice(0, 3)).toEqual([
      'Prompt recorded',
      'Upstream response 1: 135 in · 20 out',
      'Tool echo ran for 10 ms',
    ]);
  });
});
