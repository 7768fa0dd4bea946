/** A default answer: fixed, or chosen per request (as a tool loop's or an agent's many calls need). */
export type DefaultAnswer<A, R> = A | ((request: R) => A) | undefined;

/**
 * What a fake upstream answers: the queued answers in turn, then the default. An answer that is a
 * string names a fixture, checked (`loadFixture`) when it is given so that a typo fails at once.
 */
export class ScriptedAnswers<A extends string | object, R> {
  #queue: A[] = [];
  #default: DefaultAnswer<A, R>;
  readonly #check: (fixture: string) => unknown;

  constructor(check: (fixture: string) => unknown) {
    this.#check = check;
  }

  enqueue(answers: A[]): void {
    for (const a of answers) if (typeof a === 'string') this.#check(a);
    this.#queue.push(...answers);
  }

  setDefault(answer: DefaultAnswer<A, R>): void {
    if (typeof answer === 'string') this.#check(answer);
    this.#default = answer;
  }

  clear(): void {
    this.#queue = [];
  }

  /** The next answer for this request; undefined when nothing is queued and there is no default. */
  next(request: R): A | undefined {
    const chosen = this.#queue.shift() ?? this.#default;
    return typeof chosen === 'function' ? chosen(request) : chosen;
  }
}
