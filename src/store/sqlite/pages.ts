import type { InterceptionFilter, PageRequest } from '../store.ts';
import type { Call } from './protocol.ts';

/** From this many rows on, a page is an export's: rendered in halves, and the next read ahead. */
const LARGE_PAGE = 200;
/** How long a page read ahead may wait for its reader before it counts as stale. */
const READ_AHEAD_MS = 5_000;
/** Pages read ahead at once (one per reader following the pages; the oldest goes first). */
const READ_AHEAD_MAX = 4;

interface Rendered {
  json: string;
  /** The page after this one, when this one was full. */
  next?: PageRequest;
}

const keyOf = (filter: InterceptionFilter, page: PageRequest) =>
  JSON.stringify([filter, page.limit, page.offset ?? 0, page.after?._id, page.after?.started_at.getTime()]);

/**
 * Large audit pages for the embedded store's two readers. A page's rows are picked in one
 * read (so its halves can neither overlap nor miss a row) and rendered by both readers side by
 * side. And while the caller sends a full page on, the one after it is already being read: a
 * reader following the pages (an export) finds the next one ready instead of waiting for it.
 */
export class PageReader {
  readonly #call: Call;
  readonly #ahead = new Map<string, { rendered: Promise<Rendered>; at: number }>();

  constructor(call: Call) {
    this.#call = call;
  }

  async listJson(filter: InterceptionFilter, page: PageRequest): Promise<string> {
    if (page.limit < LARGE_PAGE) return this.#call('audit.listJson', [filter, page]);
    const key = keyOf(filter, page);
    const ahead = this.#ahead.get(key);
    this.#ahead.delete(key);
    const rendered =
      ahead && Date.now() - ahead.at < READ_AHEAD_MS
        ? await ahead.rendered.catch(() => this.#render(filter, page))
        : await this.#render(filter, page);
    if (rendered.next) this.#readAhead(filter, rendered.next);
    return rendered.json;
  }

  #readAhead(filter: InterceptionFilter, page: PageRequest): void {
    const oldest = this.#ahead.keys().next();
    if (this.#ahead.size >= READ_AHEAD_MAX && !oldest.done) this.#ahead.delete(oldest.value);
    const rendered = this.#render(filter, page);
    rendered.catch(() => {}); // a failure is met (and the page read again) by whoever asks for it
    this.#ahead.set(keyOf(filter, page), { rendered, at: Date.now() });
  }

  async #render(filter: InterceptionFilter, page: PageRequest): Promise<Rendered> {
    const { ids, last } = await this.#call('pages.ids', [filter, page]);
    const half = Math.ceil(ids.length / 2);
    const parts = [ids.slice(0, half), ids.slice(half)].filter((part) => part.length);
    const arrays = await Promise.all(parts.map((part) => this.#call('pages.json', [part])));
    // Each part is a JSON array: join their insides.
    const json = `[${arrays.map((array) => array.slice(1, -1)).join(',')}]`;
    // Only keyset pages read ahead: an offset page is someone jumping, not following.
    const full = ids.length === page.limit && !page.offset && last;
    return { json, next: full ? { limit: page.limit, after: last } : undefined };
  }
}
