// A request body that grows by items appended to one JSON array (messages, input items). Each item
// is encoded once and a body is put together from bytes, so a 200 KB body costs the client a copy,
// not a JSON.stringify and a UTF-8 encoding: the load generator shares the cores with what it
// measures and must stay light.
type Json = Record<string, any>;

const COMMA = Buffer.from(',');

export class GrowingBody {
  readonly #head: Buffer;
  readonly #tails: { plain: Buffer; injected: Buffer };
  readonly #items: Buffer[] = [];
  #last: Json | undefined;

  /** `head`'s fields, then `key` holding the items, then `tail`'s fields (`injectedTail`'s when offering the injected tool). */
  constructor(head: Json, key: string, tail: Json, injectedTail: Json) {
    this.#head = Buffer.from(`${JSON.stringify(head).slice(0, -1)},${JSON.stringify(key)}:[`);
    const after = (fields: Json) => Buffer.from(`],${JSON.stringify(fields).slice(1)}`);
    this.#tails = { plain: after(tail), injected: after(injectedTail) };
  }

  push(...items: Json[]): void {
    for (const item of items) {
      this.#items.push(Buffer.from(JSON.stringify(item)));
      this.#last = item;
    }
  }

  /**
   * The body, with `extra` items after the kept ones (not kept themselves), and the last item
   * rewritten by `mark` if given (a breakpoint that moves to the newest block).
   */
  bytes(injected: boolean, extra: Json[] = [], mark?: (item: Json) => Json): Buffer {
    const items = [...this.#items, ...extra.map((item) => Buffer.from(JSON.stringify(item)))];
    const last = extra.length ? extra.at(-1) : this.#last;
    if (mark && last) items[items.length - 1] = Buffer.from(JSON.stringify(mark(last)));
    const parts: Buffer[] = [this.#head];
    items.forEach((item, i) => {
      if (i) parts.push(COMMA);
      parts.push(item);
    });
    parts.push(injected ? this.#tails.injected : this.#tails.plain);
    return Buffer.concat(parts);
  }
}
