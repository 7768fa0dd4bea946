import type { FastifyBaseLogger } from 'fastify';
import type { Logger } from 'pino';

type Bindings = Record<string, unknown>;
type Method = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * A request's logger, made into a real child only when the request logs something. Fastify
 * makes one per request, and pino serialises (and redacts) a child's bindings when it is made:
 * work every request paid for a logger almost none of them use.
 */
class LazyChild {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #options: Parameters<FastifyBaseLogger['child']>[1];
  #made: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: Parameters<FastifyBaseLogger['child']>[1]) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  get #logger(): FastifyBaseLogger {
    this.#made ??= this.#parent.child(this.#bindings, this.#options);
    return this.#made;
  }

  get level(): string {
    return this.#made?.level ?? this.#options?.level ?? this.#parent.level;
  }

  set level(level: string) {
    this.#logger.level = level;
  }

  #log(method: Method, args: unknown[]): void {
    // Below the level nothing is written: the child need not exist.
    if (method !== 'silent' && !this.#made && !(this.#parent as unknown as Logger).isLevelEnabled(method)) return;
    (this.#logger[method] as (...a: unknown[]) => void)(...args);
  }

  fatal(...args: unknown[]) {
    this.#log('fatal', args);
  }
  error(...args: unknown[]) {
    this.#log('error', args);
  }
  warn(...args: unknown[]) {
    this.#log('warn', args);
  }
  info(...args: unknown[]) {
    this.#log('info', args);
  }
  debug(...args: unknown[]) {
    this.#log('debug', args);
  }
  trace(...args: unknown[]) {
    this.#log('trace', args);
  }
  silent(...args: unknown[]) {
    this.#log('silent', args);
  }

  child(bindings: Bindings, options?: Parameters<FastifyBaseLogger['child']>[1]): FastifyBaseLogger {
    return this.#logger.child(bindings, options);
  }
}

export const lazyChildLogger = (
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: Parameters<FastifyBaseLogger['child']>[1],
): FastifyBaseLogger => new LazyChild(logger, bindings, options) as unknown as FastifyBaseLogger;
