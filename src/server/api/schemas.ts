import { PROVIDER_TYPES } from '../../providers/registry.ts';
import { API_KEY_KINDS, BUDGET_PERIODS, ROLES } from '../../store/store.ts';

/**
 * JSON Schemas of the non-provider API: they validate requests, serialise responses and are
 * the OpenAPI 3.1 document's components (GET /api/v2/aibridge/openapi.json). Free-form
 * objects say `additionalProperties: true`, or the serialiser would drop their keys.
 */

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const time = { type: 'string', format: 'date-time' } as const;
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;
const count = { type: 'integer', minimum: 0 } as const;
const usd = { type: ['number', 'null'], description: 'USD; null when the model has no price' } as const;
const freeForm = { type: 'object', additionalProperties: true } as const;
const truncation = {
  truncated: { type: 'boolean', description: 'true when a text field was cut to recording.max_field_bytes' },
  original_bytes: {
    type: 'object',
    additionalProperties: { type: 'integer' },
    description: 'per cut field, its original length in bytes',
  },
} as const;

/** Only on interceptions through an alias, a key pool or a user's own key (README "Aliases and fallbacks"). */
const routedFields = {
  requested_model: { ...str, description: 'the model the client asked for (an alias, or the model itself)' },
  attempts: {
    type: 'array',
    description: 'every target the first call tried, in order; the last one answered',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['provider_name', 'model', 'status', 'error'],
      properties: {
        provider_name: str,
        model: str,
        status: { type: ['integer', 'null'], description: "the upstream's HTTP status; null when none came" },
        error: { ...nullableStr, description: 'why the next target was tried; null for the one that answered' },
      },
    },
  },
  key_source: { type: 'string', enum: ['shared', 'user'], description: "the provider's key, or the user's own" },
} as const;

const object = (properties: Record<string, unknown>, required = Object.keys(properties), extra = {}) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
  ...extra,
});

/** Every list the API gives: one page of `results`, and `count`, how many match in all (ignoring paging). */
const list = (item: object) =>
  object({
    count: { ...count, description: 'how many match in all, ignoring paging' },
    results: { type: 'array', items: item },
  });

const totalInput = {
  ...count,
  description:
    'every prompt token the model read: input_tokens (uncached) + cache_read_input_tokens + cache_write_input_tokens',
} as const;

/** Tokens and cost, the same members wherever they are summed (a call, a session, a usage group). */
const tokenFigures = {
  input_tokens: { ...count, description: 'uncached input tokens' },
  output_tokens: count,
  cache_read_input_tokens: count,
  cache_write_input_tokens: count,
  total_input_tokens: totalInput,
  cost_usd: usd,
} as const;
const initiator = object({
  id: str,
  username: nullableStr,
  name: nullableStr,
  deleted: { type: 'boolean', description: 'the user was deleted (their records stay)' },
});
/** A record's place in the tamper-evident chain; absent on records written before it. */
const chained = {
  chain: { ...str, description: 'the chain the record is a step of' },
  seq: { ...count, description: 'its step in that chain' },
  hash: { ...str, description: 'SHA-256 over the previous step’s hash and the record (README "Tamper evidence")' },
} as const;

const child = (properties: Record<string, unknown>, optional: Record<string, unknown> = {}) =>
  object({ id: str, interception_id: str, ...properties, created_at: time, ...optional, ...chained }, [
    'id',
    'interception_id',
    ...Object.keys(properties),
    'created_at',
  ]);

const INTERCEPTION_FIELDS = [
  'id',
  'initiator',
  'api_key_id',
  'provider',
  'provider_name',
  'model',
  'client',
  'client_session_id',
  'user_agent',
  'status',
  'cost_usd',
  'metadata',
  'started_at',
  'ended_at',
  'token_usages',
  'user_prompts',
  'tool_usages',
  'model_thoughts',
];

export const SCHEMAS = {
  Error: object(
    {
      message: str,
      detail: str,
      validations: { type: 'array', items: object({ field: str, detail: str }) },
    },
    ['message'],
    { description: 'Every non-provider error.' },
  ),
  TokenUsage: child({
    provider_response_id: nullableStr,
    ...tokenFigures,
    metadata: { ...freeForm, description: 'every other usage counter the provider reported' },
  }),
  UserPrompt: child({ provider_response_id: nullableStr, prompt: str }, truncation),
  ToolUsage: child(
    {
      provider_response_id: nullableStr,
      tool_call_id: str,
      server_url: { ...nullableStr, description: 'null for client-defined tools' },
      tool: str,
      input: { ...str, description: 'JSON text of the arguments' },
      injected: { type: 'boolean' },
      invocation_error: nullableStr,
      output: {
        ...nullableStr,
        description:
          'injected tools: the result text the model was given; client tools: the result the client sent back, once it did',
      },
      duration_ms: { type: ['number', 'null'] },
      metadata: freeForm,
      is_error: {
        type: ['boolean', 'null'],
        description:
          "client tools: the client marked its result an error (Anthropic's is_error); null where the API has no such mark",
      },
      result_at: { ...nullableTime, description: 'client tools: when the request carrying the result arrived' },
      result_interception_id: { ...nullableStr, description: 'client tools: the interception that carried the result' },
    },
    truncation,
  ),
  Annotation: object(
    {
      id: str,
      interception_id: { ...nullableStr, description: 'where it was made, or the latest one then; null when none' },
      client_session_id: nullableStr,
      initiator_id: str,
      repo: nullableStr,
      branch: nullableStr,
      issue_urls: { type: 'array', items: str },
      pr_urls: { type: 'array', items: str },
      note: nullableStr,
      created_at: time,
      ...truncation,
    },
    [
      'id',
      'interception_id',
      'client_session_id',
      'initiator_id',
      'repo',
      'branch',
      'issue_urls',
      'pr_urls',
      'note',
      'created_at',
    ],
    { description: 'Work context an agent attached to its session (annotate_work) or the API did.' },
  ),
  Work: object(
    {
      repo: nullableStr,
      branch: nullableStr,
      pr_urls: { type: 'array', items: str },
      issue_urls: { type: 'array', items: str },
      updated_at: time,
    },
    undefined,
    { description: "The session's work context: its latest repo and branch, every PR and issue it named." },
  ),
  ModelThought: child({ content: str, source: str }, truncation),
  Interception: object(
    {
      id: str,
      initiator: object({ id: str, username: nullableStr, name: nullableStr }),
      api_key_id: str,
      provider: { type: 'string', enum: [...PROVIDER_TYPES] },
      provider_name: str,
      model: str,
      client: str,
      client_session_id: nullableStr,
      user_agent: nullableStr,
      status: { type: ['string', 'null'], enum: ['completed', 'failed', null], description: 'null while running' },
      cost_usd: usd,
      metadata: freeForm,
      started_at: time,
      ended_at: { ...nullableTime, description: 'null while running' },
      token_usages: { type: 'array', items: { $ref: 'TokenUsage#' } },
      user_prompts: { type: 'array', items: { $ref: 'UserPrompt#' } },
      tool_usages: { type: 'array', items: { $ref: 'ToolUsage#' } },
      model_thoughts: { type: 'array', items: { $ref: 'ModelThought#' } },
      annotations: {
        type: 'array',
        items: { $ref: 'Annotation#' },
        description: 'work context annotations made in this interception',
      },
      work: { anyOf: [{ $ref: 'Work#' }, { type: 'null' }], description: "its session's work context" },
      ...routedFields,
      ...chained,
    },
    INTERCEPTION_FIELDS,
  ),
  InterceptionList: list({ $ref: 'Interception#' }),
  ValueList: list(str),
  Session: object({
    client_session_id: str,
    initiator,
    client: str,
    first_started_at: time,
    last_started_at: time,
    last_ended_at: { ...nullableTime, description: 'when the latest turn ended; null while it runs' },
    interceptions: count,
    ...tokenFigures,
  }),
  SessionList: list({ $ref: 'Session#' }),
  UsageGroup: object({
    key: {
      type: 'object',
      additionalProperties: false,
      properties: {
        initiator,
        model: str,
        provider: str,
        client: str,
        day: { type: 'string', format: 'date' },
        repo: { type: 'string', description: "the session's work-context repo; '' when it has none" },
        team: {
          anyOf: [object({ id: str, name: str }), { type: 'null' }],
          description: 'null: the initiators in no team',
        },
      },
    },
    interceptions: count,
    ...tokenFigures,
    tool_calls: count,
    failed: count,
  }),
  Tool: object({
    tool: str,
    server_url: { ...nullableStr, description: 'null for client-defined tools' },
    server: {
      ...nullableStr,
      description: "the MCP server's configured name when it ran; null for client-defined tools",
    },
    injected: { type: 'boolean' },
    calls: count,
    failed: count,
    mean_duration_ms: { type: ['number', 'null'], description: 'injected tools: mean duration of a call' },
  }),
  ToolList: list({ $ref: 'Tool#' }),
  Usage: object({ group_by: { type: 'array', items: str }, groups: { type: 'array', items: { $ref: 'UsageGroup#' } } }),
  Budget: object(
    {
      usd: { type: 'number', minimum: 0, description: 'USD per period; 0 allows no spend' },
      period: { type: 'string', enum: [...BUDGET_PERIODS] },
    },
    ['usd', 'period'],
  ),
  User: object(
    {
      id: str,
      username: str,
      name: str,
      role: { type: 'string', enum: [...ROLES] },
      created_at: time,
      disabled: { type: 'boolean' },
      deleted: { type: 'boolean' },
      budget: { anyOf: [{ $ref: 'Budget#' }, { type: 'null' }], description: 'null: the role default applies' },
      denied_servers: { type: 'array', items: str },
      email: { ...nullableStr, description: 'from single sign-on' },
      sso: {
        type: 'boolean',
        description: 'made by single sign-on: name, e-mail, role and teams come from the provider',
      },
      teams: { type: 'array', items: str, description: 'the teams the user is in, by name' },
      audit_teams: {
        type: 'array',
        items: str,
        description: 'an auditor limited to these teams sees only their members’ records; empty: everyone’s',
      },
    },
    ['id', 'username', 'name', 'role', 'created_at', 'disabled', 'deleted', 'budget', 'denied_servers'],
  ),
  UserList: list({ $ref: 'User#' }),
  Token: object({
    id: str,
    kind: {
      type: 'string',
      enum: [...API_KEY_KINDS],
      description: 'api: a bridge token; console: a web console session (listed while it lasts)',
    },
    current: { type: 'boolean', description: 'true for the token or session this request was made with' },
    name: str,
    created_at: time,
    last_used_at: nullableTime,
    expires_at: nullableTime,
    revoked_at: nullableTime,
  }),
  TokenList: list({ $ref: 'Token#' }),
  NewToken: object({
    token: { ...str, description: 'shown this once; only its hash is stored' },
    id: str,
    name: str,
    expires_at: nullableTime,
  }),
  NewUser: object({ user: { $ref: 'User#' }, token: str }),
  Team: object({
    id: str,
    name: str,
    sso: { type: 'boolean', description: 'managed by single sign-on: members follow their groups at the provider' },
    budget: { anyOf: [{ $ref: 'Budget#' }, { type: 'null' }], description: 'null: budgets.team applies, if set' },
    members: count,
    created_at: time,
  }),
  TeamList: list({ $ref: 'Team#' }),
  TeamDetail: object({
    id: str,
    name: str,
    sso: { type: 'boolean' },
    budget: { anyOf: [{ $ref: 'Budget#' }, { type: 'null' }] },
    members: count,
    created_at: time,
    member_list: {
      type: 'array',
      items: object({
        id: str,
        username: str,
        name: str,
        role: { type: 'string', enum: [...ROLES] },
        disabled: { type: 'boolean' },
        deleted: { type: 'boolean' },
      }),
    },
  }),
  Notification: object({
    id: str,
    scope: object({ kind: { type: 'string', enum: ['user', 'team'] }, id: str, name: str }),
    share: { type: 'number', description: 'the share of the budget reached (0.8 = 80 %)' },
    budget: { $ref: 'Budget#' },
    spent_usd: { type: 'number' },
    period_start: time,
    resets_at: time,
    created_at: time,
  }),
  NotificationList: list({ $ref: 'Notification#' }),
  ProviderKey: object({
    provider: str,
    type: str,
    byok: { type: 'string', enum: ['allowed', 'required'] },
    stored: { type: 'boolean', description: 'whether this user stored a key for it (never shown)' },
    updated_at: nullableTime,
  }),
  ProviderKeyList: list({ $ref: 'ProviderKey#' }),
  Credential: object({ server: str, headers: { type: 'array', items: str }, created_at: time, updated_at: time }),
  CredentialList: list({ $ref: 'Credential#' }),
  Spend: object({
    budget: { anyOf: [{ $ref: 'Budget#' }, { type: 'null' }], description: 'null: no budget applies' },
    spent_usd: { type: 'number' },
    period_start: nullableTime,
    resets_at: nullableTime,
  }),
  AuditVerify: object({
    ok: { type: 'boolean', description: 'false when a problem was found' },
    checked: { ...count, description: 'steps checked by this request' },
    problem: {
      anyOf: [
        object(
          {
            kind: { type: 'string', enum: ['changed', 'removed', 'inserted'] },
            chain: nullableStr,
            seq: { type: ['integer', 'null'] },
            collection: str,
            id: str,
            detail: str,
          },
          ['kind', 'chain', 'seq', 'detail'],
        ),
        { type: 'null' },
      ],
      description: 'the first record changed, removed or inserted; null when none (so far)',
    },
    next: { ...nullableStr, description: 'pass as `after` to go on; null when everything is checked' },
    chains: {
      type: 'array',
      items: object({
        chain: str,
        writer: object({ store: { type: 'string', enum: ['embedded', 'mongodb'] }, host: str, pid: count }),
        started_at: time,
        head: object({ seq: count, hash: str }),
        anchor_seq: { ...count, description: 'steps up to this one were purged by retention' },
      }),
    },
  }),
} as const;

type SchemaName = keyof typeof SCHEMAS;
export const ref = (name: SchemaName) => ({ $ref: `${name}#` });
