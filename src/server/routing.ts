import type { IncomingHttpHeaders } from 'node:http';
import type { Spending } from '../budgets/budgets.ts';
import type { ModelAlias } from '../config/config.ts';
import type { User } from '../identity/users.ts';
import { editTopLevel } from '../intercept/splice.ts';
import type { ApiModule } from '../intercept/types.ts';
import { callUpstream, readSnippet, type UpstreamReply } from '../intercept/upstream.ts';
import { isUpstreamFault, isUpstreamTimeout } from '../limits/upstream-faults.ts';
import type { CostHints } from '../pricing/estimate.ts';
import type { PriceBook } from '../pricing/price-book.ts';
import { BridgeError, type BridgeErrorKind, CircuitOpenError, UpstreamAuthError } from '../providers/errors.ts';
import type { ApiFamily, BridgedRoute, Retarget, RouteRequest } from '../providers/kind.ts';
import type { Provider } from '../providers/provider.ts';
import { SseParser } from '../providers/sse.ts';
import { describeUpstreamFailure } from '../providers/upstream-failure.ts';
import type { Attempt, KeySource, RoutedFields } from '../store/records.ts';
import type { AppContext } from './context.ts';

/** One place a request may go: a provider, the model asked of it, and whose key goes along. */
export interface RouteTarget {
  provider: Provider;
  model: string;
  /** The user's own key, when the provider takes users' keys and they stored one. */
  userKey: string | undefined;
  keySource: KeySource;
  /** Why it cannot be tried at all (no key for it, an API it does not serve); undefined when it can. */
  unusable: string | undefined;
  /** Whether the user's budget counts its calls (not with their own key under `byok_budgets: false`). */
  budgeted: boolean;
  /** For a provider of another kind than the route's: where the request goes there, and what changes in its body. */
  retarget?: Retarget;
}

/** Where one request may go, in order (README "Aliases and fallbacks"). */
export interface RoutePlan {
  alias: string | undefined;
  targets: RouteTarget[];
  /** The first target that can be tried; -1 when none can. */
  first: number;
  /** Recorded with `requested_model`, `attempts` and `key_source`: through an alias, a key pool or users' keys. */
  recorded: boolean;
}

/** The alias a model names on a route of an API family: aliases of the other family are model names like any. */
export function aliasFor(
  models: readonly ModelAlias[],
  providers: readonly Provider[],
  model: string,
  family: ApiFamily,
): ModelAlias | undefined {
  const entry = models.find((m) => m.alias === model);
  const first = entry && providers.find((p) => p.name === entry.targets[0]?.provider);
  return first?.kind.family === family ? entry : undefined;
}

/** Aliases a provider's clients may pick (its models list shows them): those of its API family. */
export function aliasesFor(ctx: Pick<AppContext, 'config' | 'providers'>, provider: Provider): string[] {
  return (ctx.config.models ?? [])
    .filter((m) => aliasFor(ctx.config.models, ctx.providers, m.alias, provider.kind.family))
    .map((m) => m.alias);
}

/**
 * The targets of a request for `model` on `provider`'s route: an alias's, in order, or the
 * route's own provider and the model as sent; each with the user's own key where its provider
 * takes one. A compaction (a route that takes no tools) is not aliased: its path is its own.
 */
export async function planRoute(
  ctx: AppContext,
  provider: Provider,
  route: BridgedRoute,
  model: string,
  user: User,
  streaming: boolean,
  /** The user's own key for `provider`, read with their token; others' are looked up here. */
  ownKey: string | undefined,
): Promise<RoutePlan> {
  const alias =
    route.tools === false ? undefined : aliasFor(ctx.config.models ?? [], ctx.providers, model, provider.kind.family);
  const pairs = alias
    ? alias.targets.map((t) => ({
        provider: ctx.providers.find((p) => p.name === t.provider) as Provider,
        model: t.model,
      }))
    : [{ provider, model }];
  const targets: RouteTarget[] = [];
  for (const pair of pairs) {
    const p = pair.provider;
    const userKey = p === provider ? ownKey : p.byok !== 'off' ? await ctx.userKeys.key(user._id, p.name) : undefined;
    const retarget = p === provider ? undefined : p.kind.retarget?.(route.api, pair.model, streaming);
    let unusable: string | undefined;
    if (!userKey && p.byok === 'required') unusable = `provider "${p.name}" takes only users' own keys`;
    else if (!userKey && !p.hasKey) unusable = `provider "${p.name}" has no key configured`;
    else if (p !== provider && !retarget) unusable = `provider "${p.name}" does not serve this API`;
    targets.push({
      retarget,
      provider: p,
      model: pair.model,
      userKey,
      keySource: userKey ? 'user' : 'shared',
      unusable,
      budgeted: !(userKey && !p.byokBudgets),
    });
  }
  const recorded = alias !== undefined || targets.some((t) => t.provider.pool || t.provider.byok !== 'off');
  return { alias: alias?.alias, targets, first: targets.findIndex((t) => !t.unusable), recorded };
}

/** The price of a target's model, as its provider names it. */
export const priceOf = (prices: PriceBook, target: RouteTarget) =>
  prices.price(target.provider.priceNames(target.model));

export interface SenderDeps {
  ctx: AppContext;
  plan: RoutePlan;
  /** The provider whose route the client called. */
  provider: Provider;
  route: BridgedRoute;
  where: RouteRequest;
  api: ApiModule;
  /** The model the client asked for. */
  model: string;
  /** True when the route reads the model from the body (it is rewritten there for another model). */
  modelInBody: boolean;
  streaming: boolean;
  headers: IncomingHttpHeaders;
  signal: AbortSignal;
  spending: Spending | null;
  /** Reserves a budget for a call (by the client's body's hints unless given), or throws the refusal (in the client's format). */
  reserve(bytes: number, hints?: CostHints): Promise<void>;
  /** Told where the interception went, after each attempt. */
  routed(fields: RoutedFields): void;
  log: { warn(fields: Record<string, unknown>, message: string): void };
  requestId: string;
}

/** Why the first call leaves a target for the next one; undefined when it must not (the client's own mistake, a bug). */
function fallbackReason(err: unknown): string | undefined {
  if (err instanceof CircuitOpenError) return 'circuit_open';
  if (err instanceof UpstreamAuthError) return 'no_credentials';
  if (err instanceof BridgeError) {
    if (err.kind === 'rate_limited') return 'rate_limited';
    return err.kind === 'not_configured' ? 'no_credentials' : undefined;
  }
  if (isUpstreamTimeout(err)) return 'timeout';
  return isUpstreamFault(err) ? 'connect_error' : undefined;
}

const statusReason = (status: number) => (status === 429 ? 'rate_limited' : status >= 500 ? 'server_error' : undefined);

/** The bridge's error kind for an upstream status, for an answer of another kind than the client's (its own shape would not parse). */
function kindOfStatus(status: number): BridgeErrorKind {
  if (status === 429) return 'rate_limited';
  if (status === 529 || status === 503) return 'overloaded';
  if (status === 404) return 'not_found';
  if (status === 413) return 'too_large';
  if (status === 400 || status === 422) return 'invalid_request';
  if (status === 408 || status === 504) return 'upstream_timeout';
  return 'upstream';
}

const label = (t: RouteTarget) => `${t.provider.name}/${t.model}`;

/**
 * The `send` of a routed interception: the first call goes to the plan's targets in order,
 * moving on before anything reaches the client when one cannot be reached, times out, or
 * answers 429 or 5xx; every later call of the loop goes to the target that answered. Each
 * attempt reserves from the budget at its target's price, and a failed one releases it. Keys
 * (a pool's, a user's own) are chosen per target by callUpstream.
 */
export class RoutedSender {
  readonly #deps: SenderDeps;
  readonly #attempts: Attempt[] = [];
  #current: RouteTarget;
  #calls = 0;

  constructor(deps: SenderDeps) {
    this.#deps = deps;
    this.#current = deps.plan.targets[Math.max(0, deps.plan.first)] as RouteTarget;
    for (const t of deps.plan.targets.slice(0, Math.max(0, deps.plan.first))) this.#attempt(t, null, t.unusable);
  }

  /** The target the loop's calls go to: the first usable one, then the one that answered. */
  get current(): RouteTarget {
    return this.#current;
  }

  /** Where the interception went so far, as recorded. */
  fields(): RoutedFields {
    const t = this.#current;
    return {
      provider: t.provider.type,
      provider_name: t.provider.name,
      model: t.model,
      requested_model: this.#deps.model,
      attempts: this.#attempts,
      key_source: t.keySource,
    };
  }

  readonly send = async (body: Buffer | string, hints?: CostHints): Promise<UpstreamReply> => {
    if (this.#calls++ > 0) {
      const target = this.#current;
      if (target.budgeted) await this.#deps.reserve(Buffer.byteLength(body), hints);
      const reply = await this.#callBudgeted(target, body);
      if (target.budgeted) this.#deps.spending?.answered(reply.statusCode === 200);
      return this.#adapt(target, reply);
    }
    const { targets, first } = this.#deps.plan;
    for (let i = first; i < targets.length; i++) {
      const target = targets[i] as RouteTarget;
      const last = !targets.slice(i + 1).some((t) => !t.unusable);
      if (target.unusable) {
        this.#attempt(target, null, target.unusable);
        continue;
      }
      // The first target's reservation was taken before the interception was recorded (bridged.ts).
      if (i !== first) {
        this.#deps.spending?.retarget(target.model, priceOf(this.#deps.ctx.prices, target));
        if (target.budgeted) await this.#deps.reserve(Buffer.byteLength(body));
      }
      this.#current = target;
      let reply: UpstreamReply;
      try {
        reply = await this.#callBudgeted(target, body);
      } catch (err) {
        if (this.#deps.signal.aborted) throw err;
        const reason = fallbackReason(err);
        this.#attempt(target, null, describeUpstreamFailure(err, this.#deps.requestId).what);
        if (!reason || last) throw err;
        this.#fellBack(target, i, reason);
        continue;
      }
      const reason = statusReason(reply.statusCode);
      if (!reason || last) {
        if (target.budgeted) this.#deps.spending?.answered(reply.statusCode === 200);
        this.#attempt(
          target,
          reply.statusCode,
          reply.statusCode === 200 ? null : `upstream answered ${reply.statusCode}`,
        );
        return this.#adapt(target, reply);
      }
      if (target.budgeted) this.#deps.spending?.answered(false);
      await (reply.body as { dump?: () => Promise<void> }).dump?.().catch(() => {});
      this.#attempt(target, reply.statusCode, `upstream answered ${reply.statusCode}`);
      this.#fellBack(target, i, reason);
    }
    // Every target was unusable (the plan's first is -1 only before the interception is recorded).
    throw new BridgeError('not_configured', 'no provider of this model can be used; ask the bridge’s operator');
  };

  /**
   * One call; when it fails, its reservation is released — unless the client left after it was
   * sent: the provider may go on and bill it (a blocking answer is generated whole before its
   * headers), so it counts at its estimate.
   */
  async #callBudgeted(target: RouteTarget, body: Buffer | string): Promise<UpstreamReply> {
    const sent = !this.#deps.signal.aborted;
    try {
      return await this.#call(target, body);
    } catch (err) {
      if (target.budgeted) this.#deps.spending?.answered(sent && this.#deps.signal.aborted);
      throw err;
    }
  }

  #call(target: RouteTarget, body: Buffer | string): Promise<UpstreamReply> {
    const { route, where, signal, model, modelInBody } = this.#deps;
    const to = target.retarget;
    let path: string;
    let sent = body;
    if (!to) {
      path = route.upstreamPath(where, target.model);
      if (modelInBody && target.model !== model) sent = editTopLevel(body, { model: target.model });
    } else {
      path = to.path;
      sent = editTopLevel(body, to.set, to.remove);
    }
    return callUpstream(target.provider, path, this.#deps.headers, sent, signal, target.model, target.userKey);
  }

  /**
   * An answer from a target of another kind than the route's, as the route's client reads it:
   * its stream framing carried along, its errors in the client's own format (the words stay in
   * the log: another cloud's messages may name its account).
   */
  async #adapt(target: RouteTarget, reply: UpstreamReply): Promise<UpstreamReply> {
    const own = this.#deps.provider.kind;
    const kind = target.provider.kind;
    if (kind.errors === own.errors && kind.decoder === own.decoder) return reply;
    if (reply.statusCode !== 200) {
      const said = await readSnippet(reply, 1_000);
      this.#deps.log.warn(
        { provider: target.provider.name, status: reply.statusCode, err: said, request_id: this.#deps.requestId },
        'an alias target answered with an error',
      );
      const retryAfter = reply.headers['retry-after'];
      throw new BridgeError(
        kindOfStatus(reply.statusCode),
        `provider "${target.provider.name}" answered ${reply.statusCode} (request id ${this.#deps.requestId})`,
        typeof retryAfter === 'string' ? { 'retry-after': retryAfter } : {},
      );
    }
    return {
      statusCode: 200,
      headers: { 'content-type': this.#deps.streaming ? 'text/event-stream' : 'application/json' },
      body: reply.body,
      decoder: kind.decoder ?? (() => new SseParser()),
    };
  }

  #attempt(target: RouteTarget, status: number | null, error: string | null | undefined): void {
    this.#attempts.push({ provider_name: target.provider.name, model: target.model, status, error: error ?? null });
    this.#deps.routed(this.fields());
  }

  #fellBack(from: RouteTarget, index: number, reason: string): void {
    const alias = this.#deps.plan.alias;
    const to = this.#deps.plan.targets.slice(index + 1).find((t) => !t.unusable);
    if (alias && to) this.#deps.ctx.metrics.fallbacks.labels(alias, label(from), label(to), reason).inc();
  }
}
