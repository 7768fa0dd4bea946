import type { Json } from './json.ts';

/**
 * What the client sees of the model's tool calls: never a call the bridge owns. The three
 * relays and the blocking merges all filter through this one view, and the relays number
 * what stays through it, so indexes are contiguous across every turn of the loop.
 */
export class ClientView {
  readonly #owns: (name: string) => boolean;
  readonly #callName: (item: Json) => string | undefined;
  #next = 0;
  #indexes = new Map<number, number | null>();
  #identity = true;

  /**
   * @param owns whether the bridge answers a call of this tool name
   * @param callName the tool name when an item of the API (content block, output item, tool call) is a call
   */
  constructor(owns: (name: string) => boolean, callName: (item: Json) => string | undefined) {
    this.#owns = owns;
    this.#callName = callName;
  }

  owns(name: string): boolean {
    return this.#owns(name);
  }

  hides(item: Json): boolean {
    const name = this.#callName(item);
    return name !== undefined && this.#owns(name);
  }

  visible<T extends Json>(items: readonly T[]): T[] {
    return items.filter((item) => !this.hides(item));
  }

  /** Numbers an item of the current turn: its index for the client, or null when hidden. */
  open(index: number, item: Json): number | null {
    const mapped = this.hides(item) ? null : this.#next++;
    this.#indexes.set(index, mapped);
    if (mapped !== index) this.#identity = false;
    return mapped;
  }

  /**
   * True while every item so far kept its own index (none hidden, none renumbered): an event
   * of this interception then reaches the client under the index it came with, so a relay may
   * pass it on without reading its index.
   */
  get identity(): boolean {
    return this.#identity;
  }

  /** The client index given to an item of this turn: null when hidden, undefined when never opened. */
  indexOf(index: number): number | null | undefined {
    return this.#indexes.get(index);
  }

  /** Another upstream response starts at index 0 again; the client's numbering carries on. */
  nextTurn(): void {
    this.#indexes = new Map();
  }
}
