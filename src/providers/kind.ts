import type { ServerResponse } from 'node:http';
import type { BridgeErrorKind, ErrorFormat } from './errors.ts';
import type { KeyPool } from './key-pool.ts';
import type { SseEvent } from './sse.ts';

/** The wire dialect of the API modules (src/intercept): usage, tools and stream events are read the same way. */
export type ApiFamily = 'openai' | 'anthropic';

/** The bridged APIs, each one strategy in src/intercept shared by every kind that speaks it. */
export type ApiName = 'chat' | 'responses' | 'messages';

/** A provider entry of the config: `name`, `type` and the settings its kind declares (its `settings` schema). */
export interface ProviderConfig {
  name: string;
  type: string;
  base_url?: string;
  api_key?: string;
  [setting: string]: unknown;
}

/** What a route reads of a request before its body: its path parameters and query. */
export interface RouteRequest {
  params: Record<string, string>;
  /** `?…` as the client sent it, or ''. */
  query: string;
}

/**
 * Where the model and the streaming flag are read: the body (OpenAI, Anthropic) or the URL
 * (Bedrock, Vertex; an Azure deployment names the model only, `stream` stays the body's). A URL
 * the route cannot serve is refused (`invalid_request` unless `kind` says).
 */
export type Target =
  | { from: 'body' }
  | { from: 'path'; model: string; streaming?: boolean }
  | { error: string; kind?: BridgeErrorKind };

/**
 * A call of one API for a model that is not the one the client's own request names (an alias's
 * target, README "Aliases and fallbacks"): where it goes under the base path, and which top-level
 * members of the API's body to set and to remove on the way.
 */
export interface Retarget {
  path: string;
  set: Record<string, unknown>;
  remove?: readonly string[];
}

export interface BridgedRoute {
  /** Under the provider's prefix, in fastify's syntax (`:param` is one segment). */
  path: string;
  api: ApiName;
  /** Reads the model and streaming flag when the URL carries them; omitted: both come from the body. */
  target?(request: RouteRequest): Target;
  /** The upstream path of this request's calls, under the provider's base path (query included). */
  upstreamPath(request: RouteRequest, model: string): string;
  /** False where the upstream takes no tools (a compaction): recorded and costed, nothing injected. */
  tools?: false;
}

export interface PassthroughRoute {
  methods: string[];
  path: string;
  /** Answered without a token (a client's probe before it sends one); nothing of the upstream's reaches it. */
  anonymous?: (request: RouteRequest) => { status: number; body: unknown };
  /** The upstream path under the provider's base path; default: the client's path and query. */
  upstreamPath?(request: RouteRequest, clientPath: string): string;
  /** A models list (`list`) or one model (`one`, its id the `:id` parameter): the aliases clients may pick are shown too. */
  models?: 'list' | 'one';
}

/** One upstream request about to be sent; `credentials` sets its authentication (it may sign the body). */
export interface UpstreamCall {
  method: string;
  /** Path and query, already encoded as they will be sent. */
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer | string;
}

export interface UpstreamCredentials {
  /** False when nothing is configured to authenticate with: the provider's requests are refused. */
  readonly ready: boolean;
  /** The setting to name when it is not ready (`providers[0].api_key`). */
  readonly setting: string;
  /** Sets the upstream's credentials on a call (a key header, a SigV4 signature, an OAuth token). */
  apply(call: UpstreamCall): void | Promise<void>;
  /**
   * Kinds that authenticate with a key: sets `key` (one of a pool's, or a user's own) in place of
   * the configured credentials.
   */
  applyKey?(call: UpstreamCall, key: string): void;
  /** `api_keys`: the keys calls take in turn, each with its health (README "Key pools"). */
  readonly pool?: KeyPool;
  close?(): Promise<void>;
}

/** A configured provider's upstream: where it is and how to authenticate to it. */
export interface Connection {
  /** `https://host:port` */
  origin: string;
  /** The base URL's path, without a trailing slash ('' for none). */
  basePath: string;
  credentials: UpstreamCredentials;
}

/** Turns upstream stream bytes into the events the relays read. */
export interface StreamDecoder {
  push(chunk: Uint8Array | string): SseEvent[];
}

/** Writes the relays' SSE text to the client in the kind's framing. */
export interface ClientStream {
  /** The content type of a streamed answer, when the upstream's own is not what the client expects. */
  readonly contentType?: string;
  write(text: string): void;
}

/**
 * Everything that differs between provider kinds, in one place per kind (providers/kinds/<kind>):
 * its settings, routes, upstream address and authentication, stream framing, errors, price names
 * and GenAI name. Every bridged route of every kind gets the same injection, loop, recording,
 * budgets, metrics and spans (README "Pointing clients at the bridge").
 */
export interface ProviderKind {
  readonly type: string;
  readonly family: ApiFamily;
  /** `gen_ai.provider.name` of the OpenTelemetry GenAI conventions. */
  readonly genAiName: string;
  /** One line for the config schema's description. */
  readonly summary: string;
  /** JSON Schema of the kind's own settings (`name` and `type` are everyone's). */
  readonly settings: Record<string, unknown>;
  readonly required?: readonly string[];
  readonly errors: ErrorFormat;
  readonly bridged: readonly BridgedRoute[];
  readonly passthrough: readonly PassthroughRoute[];
  /** Problems with a configured entry the schema cannot see (`providers[i].x: …`). */
  check?(config: ProviderConfig, at: string): string[];
  connect(config: ProviderConfig, at: string): Connection;
  /** Upstream streams in another framing than SSE (Bedrock's AWS event stream). */
  decoder?(): StreamDecoder;
  /** Client streams in another framing than SSE. */
  clientStream?(res: ServerResponse): ClientStream;
  /**
   * Names to look the model's price up under, most specific first (default: the model as sent):
   * where the configured endpoint bills differently (a region), the names say so.
   */
  priceNames?(model: string, config: ProviderConfig): string[];
  /** Lines of the first-start banner that point this kind's clients at a configured provider. */
  clientSetup?(baseUrl: string, config: ProviderConfig, token: string): string[];
  /**
   * True when an upstream answer says the bridge's own credentials were refused (a wrong secret,
   * an expired token), which the client must not mistake for a problem with its own: it is told
   * that the provider refused the bridge, and the operator's log gets the upstream's words.
   */
  refusedCredentials?(status: number, headers: Record<string, string | string[] | undefined>): boolean;
  /**
   * Where a call of `api` for `model` goes when the model is not the client's own (an alias's
   * target); undefined when the kind does not serve that API.
   */
  retarget?(api: ApiName, model: string, streaming: boolean): Retarget | undefined;
  /** Credentials a client sends in a header the kind's own SDKs use (Azure's `api-key`). */
  tokenHeaders?: readonly string[];
  /** Client headers that must not reach the upstream (besides credentials and hop-by-hop ones). */
  droppedHeaders?: readonly string[];
}
