import { errorEvent } from '../../providers/errors.ts';
import type { SseEvent } from '../../providers/sse.ts';
import type { ClientView } from '../client-view.ts';
import { EscapedText, JSON_INDEX, JSON_STRING_BODY } from '../json-text.ts';
import type { Json, RelayOptions, SseSink, StreamRelay, Turn, Usage } from '../types.ts';
import { addUsage } from '../usage.ts';
import { messagesUsage, messageTurn } from './payload.ts';

const PING = 'event: ping\ndata: {"type": "ping"}\n\n';

/** The two events of every streamed text, as Anthropic writes them: read without parsing. */
const TEXT_DELTA = new RegExp(
  `^\\{"type":"content_block_delta","index":${JSON_INDEX},"delta":\\{"type":"text_delta","text":"(${JSON_STRING_BODY})"\\}\\}$`,
);
const BLOCK_STOP = new RegExp(`^\\{"type":"content_block_stop","index":${JSON_INDEX}\\}$`);

/**
 * Anthropic Messages stream relay. Content blocks of injected tool calls are hidden;
 * the client's blocks are renumbered so indexes stay contiguous across iterations;
 * only the first `message_start` and the last `message_delta`/`message_stop` reach it.
 */
export class MessagesRelay implements StreamRelay {
  readonly #sink: SseSink;
  readonly #view: ClientView;
  #turns = 0;
  #message: Json = {};
  #blocks: Json[] = [];
  /** Text of text blocks, gathered from deltas that were not parsed; set on the block at the end of the turn. */
  #texts = new Map<number, EscapedText>();
  #partialJson = new Map<number, string>();
  #delta: SseEvent | undefined;
  #deltaJson: Json | undefined;
  #stop: SseEvent | undefined;
  #total: Usage | null = null;
  upstreamError: string | undefined;

  constructor(sink: SseSink, options: RelayOptions) {
    this.#sink = sink;
    this.#view = options.view;
  }

  onEvent(event: SseEvent): void {
    if (event.event === 'ping' || !event.data) {
      this.#sink.write(event.raw);
      return;
    }
    if (this.#passes(event)) return;
    const data = JSON.parse(event.data) as Json;
    switch (data.type) {
      case 'message_start':
        this.#message = data.message ?? {};
        if (this.#turns === 0) this.#sink.write(event.raw);
        return;
      case 'content_block_start': {
        this.#settleText(data.index);
        const block = { ...data.content_block } as Json;
        this.#blocks[data.index] = block;
        this.#view.open(data.index, block);
        if (block.type === 'tool_use') this.#partialJson.set(data.index, '');
        this.#forward(event, data);
        return;
      }
      case 'content_block_delta':
        this.#applyDelta(data.index, data.delta ?? {});
        this.#forward(event, data);
        return;
      case 'content_block_stop': {
        const partial = this.#partialJson.get(data.index);
        const block = this.#blocks[data.index];
        if (partial !== undefined && block) block.input = partial ? JSON.parse(partial) : (block.input ?? {});
        this.#forward(event, data);
        return;
      }
      case 'message_delta':
        this.#delta = event;
        this.#deltaJson = data;
        return;
      case 'message_stop':
        this.#stop = event;
        return;
      case 'error':
        this.upstreamError = data.error?.message ?? 'upstream error';
        this.#sink.write(event.raw);
        return;
      default:
        this.#sink.write(event.raw); // future event types pass through
    }
  }

  /**
   * The common events of a text block, handled without parsing when they reach the client as
   * they are (same index): a text delta's text is kept escaped, a text block's stop passes on.
   * False when the event needs reading.
   */
  #passes(event: SseEvent): boolean {
    let index: number;
    if (event.event === 'content_block_delta') {
      const match = TEXT_DELTA.exec(event.data);
      if (!match) return false;
      index = Number(match[1]);
      if (!this.#blocks[index] || this.#view.indexOf(index) !== index) return false;
      let text = this.#texts.get(index);
      if (!text) {
        text = new EscapedText();
        this.#texts.set(index, text);
      }
      text.addEscaped(match[2] as string);
    } else if (event.event === 'content_block_stop') {
      const match = BLOCK_STOP.exec(event.data);
      if (!match) return false;
      index = Number(match[1]);
      if (this.#partialJson.has(index) || this.#view.indexOf(index) !== index) return false;
    } else {
      return false;
    }
    this.#sink.write(event.raw);
    return true;
  }

  /** Puts the text gathered without parsing onto its block. */
  #settleText(index: number): void {
    const text = this.#texts.get(index);
    if (!text) return;
    this.#texts.delete(index);
    const block = this.#blocks[index];
    if (block) block.text = (block.text ?? '') + text.text;
  }

  #applyDelta(index: number, delta: Json): void {
    this.#settleText(index);
    const block = this.#blocks[index];
    if (!block) return;
    switch (delta.type) {
      case 'text_delta':
        block.text = (block.text ?? '') + delta.text;
        break;
      case 'thinking_delta':
        block.thinking = (block.thinking ?? '') + delta.thinking;
        break;
      case 'signature_delta':
        block.signature = delta.signature;
        break;
      case 'input_json_delta':
        this.#partialJson.set(index, (this.#partialJson.get(index) ?? '') + delta.partial_json);
        break;
      case 'citations_delta':
        block.citations = [...(block.citations ?? []), delta.citation];
        break;
    }
  }

  /** Relays a block event under the client's index: raw bytes when the index is unchanged. */
  #forward(event: SseEvent, data: Json): void {
    const index = this.#view.indexOf(data.index);
    if (index === null || index === undefined) return;
    if (index === data.index) this.#sink.write(event.raw);
    else this.#sink.write(`event: ${event.event ?? data.type}\ndata: ${JSON.stringify({ ...data, index })}\n\n`);
  }

  endTurn(): Turn | undefined {
    if (!this.#stop || !this.#deltaJson) return undefined;
    for (const index of [...this.#texts.keys()]) this.#settleText(index);
    const usage = { ...(this.#message.usage ?? {}), output_tokens: this.#deltaJson.usage?.output_tokens ?? 0 };
    const stop_reason = this.#deltaJson.delta?.stop_reason ?? this.#message.stop_reason;
    const turn = messageTurn({ ...this.#message, content: this.#blocks.filter(Boolean), usage, stop_reason });
    turn.usage = messagesUsage(usage);
    this.#total = addUsage(this.#total, turn.usage);
    this.#turns++;
    return turn;
  }

  nextTurn(): void {
    this.#view.nextTurn();
    this.#blocks = [];
    this.#texts = new Map();
    this.#partialJson = new Map();
    this.#delta = this.#deltaJson = this.#stop = undefined;
  }

  finish(): void {
    if (this.#delta && this.#deltaJson) {
      if (this.#turns > 1 && this.#total) {
        const usage = {
          ...this.#deltaJson.usage,
          input_tokens: this.#total.input_tokens,
          cache_read_input_tokens: this.#total.cache_read_input_tokens,
          cache_creation_input_tokens: this.#total.cache_write_input_tokens,
          output_tokens: this.#total.output_tokens,
        };
        this.#sink.write(`event: message_delta\ndata: ${JSON.stringify({ ...this.#deltaJson, usage })}\n\n`);
      } else {
        this.#sink.write(this.#delta.raw);
      }
    }
    if (this.#stop) this.#sink.write(this.#stop.raw);
  }

  fail(kind: Parameters<typeof errorEvent>[1], message: string): void {
    this.#sink.write(errorEvent('anthropic', kind, message));
  }

  keepAlive(): void {
    this.#sink.write(PING);
  }
}
