import { INJECTED_PREFIX } from '../../mcp/tool-names.ts';
import type { BridgeErrorKind } from '../../providers/errors.ts';
import { KEEPALIVE_COMMENT, type SseEvent } from '../../providers/sse.ts';
import type { ClientView } from '../client-view.ts';
import { sumOpenaiUsage } from '../openai-common.ts';
import type { Json, RelayOptions, SseSink, StreamRelay, Turn } from '../types.ts';
import { responseTurn, withoutInjectedTools } from './payload.ts';

const OPENING = new Set(['response.created', 'response.in_progress', 'response.queued']);
const TERMINAL = new Set(['response.completed', 'response.incomplete']);
/** The events the relay reads; every other one only passes on (deltas, parts, argument chunks…). */
const READ = new Set([
  ...OPENING,
  ...TERMINAL,
  'response.failed',
  'error',
  'response.output_item.added',
  'response.output_item.done',
]);

/**
 * Responses typed-event relay. Items of injected tool calls are hidden; the client's
 * output indexes and sequence numbers stay contiguous across iterations; the terminal
 * event is held and, after several turns, carries every visible item and summed usage.
 */
export class ResponsesRelay implements StreamRelay {
  readonly #sink: SseSink;
  readonly #view: ClientView;
  #turns = 0;
  #sequence = 0;
  #items: Json[] = [];
  #visible: Json[] = [];
  #usages: Json[] = [];
  #terminal: { event: SseEvent; data: Json } | undefined;
  upstreamError: string | undefined;

  constructor(sink: SseSink, options: RelayOptions) {
    this.#sink = sink;
    this.#view = options.view;
  }

  onEvent(event: SseEvent): void {
    if (!event.data) {
      this.#sink.write(event.raw);
      return;
    }
    const unread = this.#unread(event);
    if (unread === 'dropped') return;
    if (unread === 'passes') {
      this.#sequence++;
      this.#sink.write(event.raw);
      return;
    }
    const data = JSON.parse(event.data) as Json;
    const type: string = data.type ?? event.event;
    if (OPENING.has(type)) {
      if (this.#turns === 0) this.#forwardResponse(event, data);
      return;
    }
    if (TERMINAL.has(type)) {
      this.#terminal = { event, data };
      return;
    }
    if (type === 'response.failed' || type === 'error') {
      this.upstreamError = data.response?.error?.message ?? data.message ?? 'upstream error';
      this.#forward(event, data, undefined);
      return;
    }
    if (typeof data.output_index !== 'number') {
      this.#forward(event, data, undefined);
      return;
    }
    if (type === 'response.output_item.added') this.#view.open(data.output_index, data.item ?? {});
    if (type === 'response.output_item.done') this.#items[data.output_index] = data.item;
    const index = this.#view.indexOf(data.output_index);
    if (index === null) return;
    this.#forward(event, data, index ?? data.output_index);
  }

  /**
   * What becomes of an event, when that is known without parsing it (its type leads its data, as
   * the provider writes it): a later turn's opening events are dropped; one passes as it came
   * when its sequence number is the one the client gets next and nothing in it would change —
   * an opening event that names no tool the bridge could own, or an event the relay does not
   * read while no item has been hidden or renumbered (its output index stays).
   */
  #unread(event: SseEvent): 'dropped' | 'passes' | undefined {
    const name = event.event;
    if (name === undefined || !event.data.startsWith(`{"type":"${name}",`)) return undefined;
    const next = event.data.startsWith(`{"type":"${name}","sequence_number":${this.#sequence},`);
    if (OPENING.has(name)) {
      if (this.#turns > 0) return 'dropped';
      // Owned tools are `bmcp_…`; a name written with escapes could hide one, so those are read.
      return next && !event.data.includes(INJECTED_PREFIX) && !event.data.includes('\\u') ? 'passes' : undefined;
    }
    return next && !READ.has(name) && this.#view.identity ? 'passes' : undefined;
  }

  /** Events carrying a response object repeat the request's tools: cut the injected ones out. */
  #forwardResponse(event: SseEvent, data: Json): void {
    const response = data.response ? withoutInjectedTools(data.response, this.#view) : data.response;
    if (response === data.response) this.#forward(event, data, undefined);
    else this.#forward(event, { ...data, response }, undefined, true);
  }

  /** Writes the event with the client's sequence number and output index, raw when both already match. */
  #forward(event: SseEvent, data: Json, outputIndex: number | undefined, changed = false): void {
    const sequence = this.#sequence++;
    const sameIndex = outputIndex === undefined || outputIndex === data.output_index;
    if (!changed && sameIndex && (data.sequence_number === undefined || data.sequence_number === sequence)) {
      this.#sink.write(event.raw);
      return;
    }
    const patched: Json = { ...data };
    if (data.sequence_number !== undefined) patched.sequence_number = sequence;
    if (!sameIndex) patched.output_index = outputIndex;
    this.#sink.write(`event: ${event.event ?? data.type}\ndata: ${JSON.stringify(patched)}\n\n`);
  }

  endTurn(): Turn | undefined {
    if (!this.#terminal) return undefined;
    const response: Json = this.#terminal.data.response ?? {};
    const output = response.output?.length ? (response.output as Json[]) : this.#items.filter(Boolean);
    this.#usages.push(response.usage);
    this.#visible.push(...this.#view.visible(output));
    this.#turns++;
    return responseTurn(response, output);
  }

  nextTurn(): void {
    this.#view.nextTurn();
    this.#items = [];
    this.#terminal = undefined;
  }

  finish(): void {
    if (!this.#terminal) return;
    const { event, data } = this.#terminal;
    if (this.#turns === 1 && this.#visible.length === (data.response?.output?.length ?? 0)) {
      this.#forwardResponse(event, data);
      return;
    }
    const response = withoutInjectedTools(
      { ...data.response, output: this.#visible, usage: sumOpenaiUsage(this.#usages) },
      this.#view,
    );
    this.#forward(event, { ...data, response }, undefined, true);
  }

  fail(kind: BridgeErrorKind, message: string): void {
    const data = {
      type: 'error',
      code: kind === 'upstream' ? 'upstream_error' : kind,
      message,
      param: null,
      sequence_number: this.#sequence++,
    };
    this.#sink.write(`event: error\ndata: ${JSON.stringify(data)}\n\n`);
  }

  keepAlive(): void {
    this.#sink.write(KEEPALIVE_COMMENT);
  }
}
