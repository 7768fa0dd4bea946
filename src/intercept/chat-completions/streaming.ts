import { errorEvent } from '../../providers/errors.ts';
import { KEEPALIVE_COMMENT, type SseEvent } from '../../providers/sse.ts';
import type { ClientView } from '../client-view.ts';
import { EscapedText, JSON_STRING_BODY } from '../json-text.ts';
import { sumOpenaiUsage } from '../openai-common.ts';
import type { Json, RelayOptions, SseSink, StreamRelay, Turn } from '../types.ts';
import { chatTurn } from './payload.ts';

/** A string value without escapes, or null. */
const PLAIN = String.raw`"[^"\\\x00-\x1f]*"`;

/** A chunk of streamed text as OpenAI writes it, nothing else in it: read without parsing. */
const TEXT_CHUNK = new RegExp(
  String.raw`^\{"id":"([^"\\\x00-\x1f]*)","object":"chat\.completion\.chunk","created":[0-9]+,"model":${PLAIN},` +
    `(?:"service_tier":(?:${PLAIN}|null),)?(?:"system_fingerprint":(?:${PLAIN}|null),)?` +
    String.raw`"choices":\[\{"index":0,"delta":\{"content":"(${JSON_STRING_BODY})"\},"logprobs":null,"finish_reason":null\}\]` +
    String.raw`(?:,"usage":null)?(?:,"obfuscation":${PLAIN})?\}$`,
);

interface CallState {
  id: string;
  name: string;
  arguments: string;
}

/**
 * Chat Completions chunk relay. Deltas of injected tool calls are removed (and client
 * calls renumbered); the finish chunk, the usage chunk and `[DONE]` are held until the
 * loop ends; the usage chunk reaches the client only if it asked for one.
 */
export class ChatRelay implements StreamRelay {
  readonly #sink: SseSink;
  readonly #view: ClientView;
  readonly #clientWantsUsage: boolean;
  #turns = 0;
  #firstId: string | undefined;
  #calls = new Map<number, CallState>();
  #text = new EscapedText();
  #reasoning = '';
  #id: string | null = null;
  #model: string | null = null;
  #finish: Json | undefined;
  #finishRaw: string | undefined;
  #usageChunk: Json | undefined;
  #usages: Json[] = [];
  #done = false;
  upstreamError: string | undefined;

  constructor(sink: SseSink, options: RelayOptions) {
    this.#sink = sink;
    this.#view = options.view;
    this.#clientWantsUsage = options.clientWantsUsage;
  }

  onEvent(event: SseEvent): void {
    if (!event.data) {
      this.#sink.write(event.raw);
      return;
    }
    if (event.data === '[DONE]') {
      this.#done = true;
      return;
    }
    if (this.#passes(event)) return;
    const chunk = JSON.parse(event.data) as Json;
    if (chunk.error) {
      this.upstreamError = chunk.error.message ?? 'upstream error';
      this.#sink.write(event.raw);
      return;
    }
    this.#id ??= chunk.id ?? null;
    this.#model ??= chunk.model ?? null;
    this.#firstId ??= chunk.id;
    if (chunk.usage) this.#usages[this.#turns] = chunk.usage;
    const choice = chunk.choices?.[0] as Json | undefined;
    if (!choice) {
      if (chunk.usage) this.#usageChunk = chunk;
      else this.#sink.write(event.raw);
      return;
    }
    const delta: Json = choice.delta ?? {};
    if (typeof delta.content === 'string') this.#text.add(delta.content);
    if (typeof delta.reasoning_content === 'string') this.#reasoning += delta.reasoning_content;
    let rewritten = this.#turns > 0 && chunk.id !== this.#firstId;
    if (Array.isArray(delta.tool_calls)) {
      const kept = [];
      for (const call of delta.tool_calls as Json[]) {
        this.#track(call);
        const clientIndex = this.#view.indexOf(call.index);
        if (clientIndex === null || clientIndex === undefined) continue;
        kept.push(clientIndex === call.index ? call : { ...call, index: clientIndex });
      }
      if (kept.length !== delta.tool_calls.length || kept.some((k, i) => k !== delta.tool_calls[i])) {
        rewritten = true;
        if (kept.length) delta.tool_calls = kept;
        else delete delta.tool_calls;
      }
    }
    if (choice.finish_reason) {
      this.#finish = chunk;
      this.#finishRaw = rewritten ? undefined : event.raw;
      return;
    }
    if (rewritten && !Object.keys(delta).length) return; // only hidden calls were in it
    if (!rewritten) {
      this.#sink.write(event.raw);
      return;
    }
    this.#write(chunk);
  }

  /**
   * A chunk of text only, in this turn's id, reaches the client as it came: its text is kept
   * escaped, no JSON parsed. The turn's first chunk is read (it gives the id). False when the
   * chunk needs reading.
   */
  #passes(event: SseEvent): boolean {
    if (this.#id === null) return false;
    const match = TEXT_CHUNK.exec(event.data);
    if (!match || (this.#turns > 0 && match[1] !== this.#firstId)) return false;
    this.#text.addEscaped(match[2] as string);
    this.#sink.write(event.raw);
    return true;
  }

  /** Accumulates a call's deltas; its first delta (which names it) gives it a client index, or hides it. */
  #track(call: Json): void {
    let state = this.#calls.get(call.index);
    if (!state) {
      state = { id: call.id ?? '', name: call.function?.name ?? '', arguments: '' };
      this.#calls.set(call.index, state);
      this.#view.open(call.index, call);
    }
    if (call.function?.arguments) state.arguments += call.function.arguments;
  }

  #write(chunk: Json): void {
    this.#sink.write(`data: ${JSON.stringify(this.#firstId ? { ...chunk, id: this.#firstId } : chunk)}\n\n`);
  }

  endTurn(): Turn | undefined {
    if (!this.#finish) return undefined;
    const toolCalls = [...this.#calls.values()].map((c) => ({
      id: c.id,
      type: 'function',
      function: { name: c.name, arguments: c.arguments },
    }));
    const message = {
      content: this.#text.text || null,
      tool_calls: toolCalls,
      reasoning_content: this.#reasoning || undefined,
    };
    const reason = this.#finish.choices?.[0]?.finish_reason;
    const meta = { id: this.#id, model: this.#model, finishReasons: reason ? [String(reason)] : [] };
    const turn = chatTurn(meta, message, this.#usages[this.#turns]);
    this.#turns++;
    return turn;
  }

  nextTurn(): void {
    this.#calls = new Map();
    this.#view.nextTurn();
    this.#text = new EscapedText();
    this.#reasoning = '';
    this.#id = this.#model = null;
    this.#finish = this.#finishRaw = this.#usageChunk = undefined;
    this.#done = false;
  }

  finish(): void {
    if (this.#finish) {
      if (this.#finishRaw && this.#turns === 1) this.#sink.write(this.#finishRaw);
      else this.#write(this.#finish);
    }
    if (this.#clientWantsUsage && this.#usageChunk) {
      const usage = this.#turns > 1 ? sumOpenaiUsage(this.#usages) : this.#usageChunk.usage;
      this.#write({ ...this.#usageChunk, usage });
    }
    if (this.#done || this.#finish) this.#sink.write('data: [DONE]\n\n');
  }

  fail(kind: Parameters<typeof errorEvent>[1], message: string): void {
    this.#sink.write(errorEvent('openai', kind, message));
  }

  keepAlive(): void {
    this.#sink.write(KEEPALIVE_COMMENT);
  }
}
