import { Counter, type CounterConfiguration, Gauge, type GaugeConfiguration } from 'prom-client';

/** One label set of a tallied metric: what the request path touches. */
export interface Series {
  inc(by?: number): void;
  dec(by?: number): void;
  set(value: number): void;
}

interface Pending {
  labels: Record<string, string>;
  /** Added since the last read. */
  delta: number;
  /** Set since the last read (gauges). */
  value: number | undefined;
  /** Handed over once: the series shows (at 0 too) from then on, as it would in prom-client. */
  shown: boolean;
}

/**
 * A prom-client counter or gauge for the request path: updates are summed per label set and
 * handed to prom-client when it is read (every scrape reads it first). An update then costs
 * one lookup, not prom-client's label validation and hashing — and none of their garbage.
 */
export class Tally<L extends string> {
  readonly #names: readonly L[];
  readonly #series = new Map<string, Series & { pending: Pending }>();
  readonly metric: Counter<L> | Gauge<L>;

  constructor(kind: 'counter', config: CounterConfiguration<L>);
  constructor(kind: 'gauge', config: GaugeConfiguration<L>);
  constructor(kind: 'counter' | 'gauge', config: CounterConfiguration<L> | GaugeConfiguration<L>) {
    this.#names = config.labelNames ?? [];
    const flush = () => this.#flush();
    const collect = function (this: Counter<L> | Gauge<L>) {
      flush();
    };
    this.metric = kind === 'counter' ? new Counter({ ...config, collect }) : new Gauge({ ...config, collect });
  }

  /** The series of these label values, in the order of labelNames. */
  labels(...values: string[]): Series {
    const key = values.join('\u0000');
    let series = this.#series.get(key);
    if (!series) {
      const labels = Object.fromEntries(this.#names.map((name, i) => [name, values[i] ?? '']));
      const pending: Pending = { labels, delta: 0, value: undefined, shown: false };
      series = {
        pending,
        inc(by = 1) {
          pending.delta += by;
        },
        dec(by = 1) {
          pending.delta -= by;
        },
        set(value) {
          pending.value = value;
          pending.delta = 0;
        },
      };
      this.#series.set(key, series);
    }
    return series;
  }

  /** What prom-client's own `get` gives, every update handed over. */
  get() {
    return this.metric.get();
  }

  #flush(): void {
    const metric = this.metric as Gauge<L>;
    for (const { pending } of this.#series.values()) {
      if (pending.value !== undefined) {
        metric.set(pending.labels as Partial<Record<L, string>>, pending.value);
        pending.value = undefined;
      }
      if (pending.delta !== 0 || !pending.shown) {
        metric.inc(pending.labels as Partial<Record<L, string>>, pending.delta);
        pending.delta = 0;
      }
      pending.shown = true;
    }
  }
}
