import { describe, expect, it } from 'vitest';
import { chain, httpRequest } from '../../src/server/responses-socket/chain.ts';
import { SocketChannel } from '../../src/server/responses-socket/channel.ts';
import { streamErrorFrame } from '../../src/server/responses-socket/frames.ts';

/** A channel whose frames are kept, parsed. */
function channel() {
  const frames: any[] = [];
  return { frames, channel: new SocketChannel({ send: (text) => frames.push(JSON.parse(text)) }) };
}

const sse = (data: unknown, event?: string) =>
  `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

describe('the Responses WebSocket channel', () => {
  it('sends each event as one frame, keep-alives as a small in_progress, and notes what the client can chain to', () => {
    const { frames, channel: c } = channel();
    const response = { id: 'resp_1', object: 'response', created_at: 1, status: 'in_progress', model: 'm', tools: [1] };
    c.write(sse({ type: 'response.created', response }, 'response.created'));
    c.write(': keep-alive\n\n');
    const item = { type: 'message', id: 'msg_1', content: [] };
    // Two events in one write, the second without an `event:` line.
    c.write(sse({ type: 'response.output_item.done', item }) + sse({ type: 'response.completed', response }));
    c.write(sse({ type: 'response.output_text.delta', delta: 'late' }));
    expect(frames.map((f) => f.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(frames[1].response).toEqual({
      id: 'resp_1',
      object: 'response',
      created_at: 1,
      status: 'in_progress',
      model: 'm',
    });
    expect(c.settle()).toEqual({ completed: 'resp_1', items: [item] });
    expect(frames).toHaveLength(4);
  });

  it('ends a response that stopped without its last event with an error frame, so the client does not wait', () => {
    const { frames, channel: c } = channel();
    c.write(sse({ type: 'response.output_text.delta', delta: 'Hel' }));
    expect(c.settle()).toEqual({ ended: 'none' });
    expect(frames.at(-1)).toMatchObject({ type: 'error', status: 502, error: { code: 'upstream_error' } });
  });

  it('gives a status to every streamed error: the bridge kinds by their own, upstream codes by what they mean', () => {
    expect(
      JSON.parse(streamErrorFrame({ type: 'error', code: 'rate_limited', message: 'x', sequence_number: 3 })),
    ).toMatchObject({ status: 429, sequence_number: 3, error: { code: 'rate_limit_exceeded' } });
    expect(
      JSON.parse(streamErrorFrame({ type: 'error', code: 'context_length_exceeded', message: 'x' })),
    ).toMatchObject({ status: 400, error: { type: 'invalid_request_error', code: 'context_length_exceeded' } });
    expect(JSON.parse(streamErrorFrame({ type: 'error', code: 'server_error', message: 'x' }))).toMatchObject({
      status: 500,
    });
    expect(JSON.parse(streamErrorFrame({ type: 'error', code: null, message: 'x', status: 503 }))).toMatchObject({
      status: 503,
    });
  });
});

describe('chained requests', () => {
  it('reads a string input as one user message and keeps everything but the transport members', () => {
    const first = chain({ input: 'hi' }, undefined);
    expect(first).toEqual({
      input: 'hi',
      fullInput: [{ type: 'message', role: 'user', content: 'hi' }],
      chained: false,
    });
    const last = { id: 'resp_1', input: (first as any).fullInput, output: [{ type: 'message', role: 'assistant' }] };
    const next = chain({ previous_response_id: 'resp_1', input: 'more' }, last);
    expect(next).toMatchObject({ chained: true });
    expect((next as any).input).toEqual([
      ...last.input,
      ...last.output,
      { type: 'message', role: 'user', content: 'more' },
    ]);
    expect(chain({ previous_response_id: 'resp_1', input: { not: 'a list' } }, last)).toMatchObject({
      error: 'invalid_input',
    });
    expect(chain({ previous_response_id: 'resp_2', input: [] }, last)).toMatchObject({
      error: 'previous_response_not_found',
    });

    const { body, headers } = httpRequest(
      {
        type: 'response.create',
        model: 'm',
        previous_response_id: 'resp_1',
        generate: true,
        stream_id: 's',
        client_metadata: {
          'x-codex-turn-metadata': '{"turn_id":"t"}',
          'X-Codex-Window-Id': 'w:0',
          'x-codex-ws-stream-request-start-ms': '1',
          'x-codex-evil': 'a\r\nb',
          session_id: 's',
          'x-codex-number': 5,
        },
        stream: false,
      },
      ['item'],
    );
    expect(body).toEqual({ model: 'm', stream: true, input: ['item'] });
    expect(headers).toEqual({ 'x-codex-turn-metadata': '{"turn_id":"t"}', 'x-codex-window-id': 'w:0' });
  });
});
