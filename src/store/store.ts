/**
 * The one storage interface (README "Storage"): every document the product keeps, and every query it
 * makes of them. Two implementations — embedded SQLite (`store/sqlite/`) and MongoDB
 * (`store/mongo/`) — pass the same contract suite (test/store/contract.ts).
 */
import type { ChainAnchorDoc, ChainHeadDoc } from './chain.ts';
import type { QuotaLedger } from './ledger.ts';
import type {
  AnnotationRecord,
  InterceptionRecord,
  ModelThoughtRecord,
  RecordOp,
  TokenUsageRecord,
  ToolUsageRecord,
  UserPromptRecord,
} from './records.ts';

export const ROLES = ['owner', 'auditor', 'member'] as const;
export type Role = (typeof ROLES)[number];

export const BUDGET_PERIODS = ['day', 'week', 'month'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];
export interface Budget {
  usd: number;
  period: BudgetPeriod;
}

export interface UserDoc {
  _id: string;
  username: string;
  name: string;
  role: Role;
  created_at: Date;
  /** Set while the user is disabled: their tokens answer 401. */
  disabled_at: Date | null;
  /** Set once deleted; the username stays reserved so records stay unambiguous. */
  deleted_at: Date | null;
  /** Overrides the role's default budget; null = the role default. */
  budget: Budget | null;
  /** MCP servers this user is never given, whatever their role allows. */
  denied_servers: string[];
  /** Set for a user single sign-on created: who they are at the provider (their _id derives from it). */
  sso?: { issuer: string; subject: string } | null;
  /** From single sign-on; null when the provider gave none. */
  email?: string | null;
  /** An auditor limited to these teams (ids) sees only their members' records; absent or empty: everyone's. */
  audit_teams?: string[];
}

/** What an update may change on a user. */
export type UserPatch = Partial<
  Pick<UserDoc, 'name' | 'role' | 'disabled_at' | 'deleted_at' | 'budget' | 'denied_servers' | 'email' | 'audit_teams'>
>;

/** What `updateUser` did: `last-owner` when the change would have left no enabled owner (nothing was written). */
export type UserUpdate = 'updated' | 'no-user' | 'last-owner';

/** An owner who can act: enabled and not deleted. Someone must always be one, to undo any change. */
export const isActiveOwner = (user: Pick<UserDoc, 'role' | 'disabled_at' | 'deleted_at'>) =>
  user.role === 'owner' && !user.disabled_at && !user.deleted_at;

/** Whether `patch` takes an active owner's standing away (demoted, disabled or deleted). */
export const removesAnOwner = (user: UserDoc, patch: UserPatch) =>
  isActiveOwner(user) && !isActiveOwner({ ...user, ...patch });

/** `api`: a bridge token; `console`: a web console session (a cookie, 12 h). */
export const API_KEY_KINDS = ['api', 'console'] as const;
export type ApiKeyKind = (typeof API_KEY_KINDS)[number];

export interface ApiKeyDoc {
  _id: string;
  user_id: string;
  /** SHA-256 of the token; the token itself is never stored. */
  hash: string;
  name: string;
  /** `console`: a web console session (cookie), revoked at sign-out. */
  kind: ApiKeyKind;
  /** A console session begun through single sign-on: signing out also offers the provider's sign-out. */
  sso?: boolean;
  /** A console session opened with a token: the token's id (revoking it ends the session too). */
  opened_with?: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

/** Stored form of per-user MCP headers: names in clear (to list them), values only sealed. */
export interface CredentialDoc {
  _id: string;
  user_id: string;
  server: string;
  header_names: string[];
  headers_enc: string;
  created_at: Date;
  updated_at: Date;
}

/** A user's own key for a provider (README "Bring your own key"): sealed, never stored or shown in clear. */
export interface ProviderKeyDoc {
  _id: string;
  user_id: string;
  provider: string;
  key_enc: string;
  created_at: Date;
  updated_at: Date;
}

/** The audit filter (the `q` of README "Audit API") after `initiator` has been resolved to a user id. */
export interface InterceptionFilter {
  initiator_id?: string;
  /** Any of these initiators (a team's members, what a team auditor may see); empty matches nothing. */
  initiator_ids?: readonly string[];
  provider?: string;
  provider_name?: string;
  model?: string;
  client?: string;
  client_session_id?: string;
  /** `running` matches interceptions that have not ended. */
  status?: 'completed' | 'failed' | 'running';
  started_after?: Date;
  started_before?: Date;
  /** Interceptions in which the model called a tool of this name (as recorded: an MCP tool's own name). */
  tool?: string;
  /** Work context (README "Work context"): the interception's session's repo and branch… */
  repo?: string;
  branch?: string;
  /** …and a PR or issue its session named: a whole URL, or a number matching URLs ending in `/N`. */
  pr?: string;
  issue?: string;
}

/** The work-context keys of a filter, which only the work contexts can answer. */
export const WORK_KEYS = ['repo', 'branch', 'pr', 'issue'] as const;
export type WorkKey = (typeof WORK_KEYS)[number];

/**
 * The work context of a session (or of one interception, for an annotation made outside any
 * session): what its annotations add up to, kept by the store as they are written. Each of repo
 * and branch is the latest annotation's that set it; the URLs are all the annotations' (the
 * newest 50 of each). An interception's work context is its session's (README "Work context").
 */
export interface WorkContext {
  /** `<initiator>|s|<client session id>`, or `<initiator>|i|<interception id>`. */
  _id: string;
  initiator_id: string;
  client_session_id: string | null;
  /** Set only for the context of an interception without a session. */
  interception_id: string | null;
  repo: string | null;
  branch: string | null;
  pr_urls: string[];
  issue_urls: string[];
  /** When repo and branch were set: an annotation applied out of order never overwrites a later one. */
  repo_at: Date | null;
  branch_at: Date | null;
  /** The latest annotation's time. */
  updated_at: Date;
}

/** The work context an annotation belongs to. */
export function workKeyOf(a: Pick<AnnotationRecord, 'initiator_id' | 'client_session_id' | 'interception_id'>) {
  if (a.client_session_id !== null) return `${a.initiator_id}|s|${a.client_session_id}`;
  return a.interception_id === null ? null : `${a.initiator_id}|i|${a.interception_id}`;
}

/** The work context an interception takes: its session's, or (without one) its own. */
export const workContextIdOf = (i: Pick<InterceptionRecord, '_id' | 'initiator_id' | 'client_session_id'>): string =>
  i.client_session_id !== null ? `${i.initiator_id}|s|${i.client_session_id}` : `${i.initiator_id}|i|${i._id}`;

/** A keyset cursor: rows strictly after this one in (started_at desc, _id desc) order. */
export interface Cursor {
  _id: string;
  started_at: Date;
}

export interface PageRequest {
  limit: number;
  offset?: number;
  after?: Cursor;
}

/** One interception with everything recorded under it, children in created_at order. */
export interface InterceptionDetail {
  interception: InterceptionRecord;
  initiator: { username: string; name: string } | null;
  user_prompts: UserPromptRecord[];
  token_usages: TokenUsageRecord[];
  tool_usages: ToolUsageRecord[];
  model_thoughts: ModelThoughtRecord[];
  /** Annotations made in this interception (or attached to it from outside, as the caller's latest). */
  annotations: AnnotationRecord[];
  /** Its session's work context (or its own, without a session); null when none was given. */
  work: WorkContext | null;
}

export const USAGE_KEYS = ['initiator', 'model', 'provider', 'client', 'day', 'repo'] as const;
export type UsageKey = (typeof USAGE_KEYS)[number];

/** Sums over a group of interceptions (README "Cost and budgets"). */
export interface UsageGroup {
  /**
   * One entry per group_by key; `initiator` is the user id, `day` is YYYY-MM-DD (UTC), `repo` is
   * the interception's work context's repo ('' for none).
   */
  key: Partial<Record<UsageKey, string>>;
  interceptions: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
  /** Sum over priced interceptions; null when none in the group was priced. */
  cost_usd: number | null;
  tool_calls: number;
  /** Interceptions in the group that ended failed. */
  failed: number;
}

/** The fields of a usage group that add up (cost apart: it may be null). */
export const USAGE_COUNTS = [
  'interceptions',
  'input_tokens',
  'output_tokens',
  'cache_read_input_tokens',
  'cache_write_input_tokens',
  'tool_calls',
  'failed',
] as const satisfies ReadonlyArray<keyof UsageGroup>;

/** Interceptions sharing one client session id (an agent's session), for the console. */
export interface SessionSummary {
  client_session_id: string;
  initiator_id: string;
  client: string;
  first_started_at: Date;
  last_started_at: Date;
  /** When the latest turn ended; null while it runs. */
  last_ended_at: Date | null;
  interceptions: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
  cost_usd: number | null;
}

/** One page of a list, with how many rows match in all (ignoring paging): the shape of every list the API gives. */
export interface Listed<T> {
  count: number;
  results: T[];
}

/** Calls of one tool among matching interceptions (the console's top tools, README "Web console"). */
export interface ToolSummary {
  tool: string;
  /** Null for client-defined tools. */
  server_url: string | null;
  /** The configured name of the MCP server that ran it, as recorded; null for client-defined tools. */
  server: string | null;
  injected: boolean;
  calls: number;
  /** Calls with an invocation error. */
  failed: number;
  /** Sum and count of the timed (injected) calls, for a mean. */
  duration_ms: number;
  timed: number;
}

export interface PurgeBatch {
  interceptions: number;
  /** Deleted documents per child collection. */
  children: Record<string, number>;
}

export interface RecordStore {
  /**
   * Writes records in order; idempotent, so a batch written twice (a replayed journal) changes
   * nothing. An interception insert that meets an existing row takes its end fields.
   */
  write(ops: RecordOp[]): Promise<void>;
  /**
   * The same write, given as journal lines (store/codec.ts): a store whose writes run in
   * another thread takes text, which crosses for the cost of a copy. Optional.
   */
  writeLines?(lines: string[]): Promise<void>;
  /** Deletes up to `limit` interceptions started before `cutoff`, children first. */
  purge(cutoff: Date, limit: number): Promise<PurgeBatch>;
}

export interface AuditStore {
  /** The (started_at, _id) of `id` when it matches the filter; null otherwise. */
  cursor(filter: InterceptionFilter, id: string): Promise<Cursor | null>;
  /** One page in (started_at desc, _id desc) order. */
  list(filter: InterceptionFilter, page: PageRequest): Promise<InterceptionDetail[]>;
  /**
   * The same page as the audit API shows it (README "Audit API"), as JSON text of the results array:
   * the embedded store builds it in its worker thread, so a large export never holds up the
   * event loop that serves the agents.
   */
  listJson(filter: InterceptionFilter, page: PageRequest): Promise<string>;
  /** How many interceptions match, ignoring paging. */
  count(filter: InterceptionFilter): Promise<number>;
  get(filter: InterceptionFilter, id: string): Promise<InterceptionDetail | null>;
  /** Distinct non-empty values of a field among matching interceptions, sorted. */
  distinct(field: 'model' | 'client', filter: InterceptionFilter): Promise<string[]>;
  /** Groups matching (ended) interceptions; computed by the store, never row by row in the bridge. */
  usage(filter: InterceptionFilter, groupBy: readonly UsageKey[]): Promise<UsageGroup[]>;
  /** Client sessions among matching interceptions, most recently active first; `count` is every matching session. */
  sessions(filter: InterceptionFilter, page: { limit: number; offset?: number }): Promise<Listed<SessionSummary>>;
  /**
   * The most-called tools among matching interceptions, most calls first; `count` is every
   * distinct tool. The MongoDB store considers the newest 20 000 matching interceptions (it
   * has no join); the embedded one all.
   */
  tools(filter: InterceptionFilter, limit: number): Promise<Listed<ToolSummary>>;
  /** USD recorded for a user's interceptions started at or after `since` (budgets). */
  spend(userId: string, since: Date): Promise<number>;
  /**
   * The newest client tool usage of this user with this tool_call_id, made at or before `before`
   * (through an index, never a scan): the call a client tool result answers.
   */
  clientToolCall(initiatorId: string, toolCallId: string, before?: Date): Promise<ToolUsageRecord | null>;
}

export interface IdentityStore {
  /**
   * Throws DuplicateError when the username is taken in any case (`Alice` when `alice` exists;
   * deleted users keep theirs). The check and the insert are one atomic step.
   */
  createUser(user: UserDoc): Promise<void>;
  users(options?: { includeDeleted?: boolean }): Promise<UserDoc[]>;
  countUsers(): Promise<number>;
  userById(id: string): Promise<UserDoc | null>;
  /**
   * The user with exactly this username, else the one user whose username matches it in
   * another case; null when none does, or when several do (names that clash in case, kept
   * from before usernames were unique regardless of it: each is found by its exact name).
   */
  userByUsername(username: string): Promise<UserDoc | null>;
  usersByIds(ids: readonly string[]): Promise<UserDoc[]>;
  /**
   * Applies a patch unless it would leave no active owner (`last-owner`): the check and the
   * write are one atomic step, so concurrent changes, from any process, never both pass it.
   */
  updateUser(id: string, patch: UserPatch): Promise<UserUpdate>;
  createKey(key: ApiKeyDoc): Promise<void>;
  keyByHash(hash: string): Promise<ApiKeyDoc | null>;
  keyById(id: string): Promise<ApiKeyDoc | null>;
  keys(userId?: string): Promise<ApiKeyDoc[]>;
  /** Sets revoked_at on the given keys that are not revoked yet; returns how many changed. */
  revokeKeys(ids: readonly string[], at: Date): Promise<number>;
  /** Raises last_used_at (never lowers it); one call per batch of keys, not per request. */
  touchKeys(lastUsed: ReadonlyArray<readonly [string, Date]>): Promise<void>;
  /** Deletes expired console sessions and long-revoked keys; returns how many went. */
  pruneKeys(before: Date): Promise<number>;
}

/** A named group of users (README "Teams"): a budget shared by its members, a scope for auditors. */
export interface TeamDoc {
  _id: string;
  name: string;
  /** The name as names are compared (lower case): unique. */
  name_key: string;
  created_at: Date;
  /** null: `budgets.team` from the configuration, if any. */
  budget: Budget | null;
  /** Its members come from single sign-on groups, set at each member's sign-in: owners do not add or remove them. */
  sso: boolean;
}

export interface TeamMemberDoc {
  /** `<team_id>:<user_id>`: one membership per pair, decided by a unique insert. */
  _id: string;
  team_id: string;
  user_id: string;
  created_at: Date;
}

export type TeamPatch = Partial<Pick<TeamDoc, 'budget' | 'sso'>>;

export const teamMemberId = (teamId: string, userId: string) => `${teamId}:${userId}`;

export interface TeamStore {
  /** Throws DuplicateError when a team of that name (case-insensitively) exists. */
  create(team: TeamDoc): Promise<void>;
  /** By name. */
  list(): Promise<TeamDoc[]>;
  byId(id: string): Promise<TeamDoc | null>;
  /** Case-insensitive. */
  byName(name: string): Promise<TeamDoc | null>;
  /** False when no such team. */
  update(id: string, patch: TeamPatch): Promise<boolean>;
  /** Deletes the team and its memberships; false when no such team. */
  delete(id: string): Promise<boolean>;
  /** False when already a member. */
  addMember(member: TeamMemberDoc): Promise<boolean>;
  removeMember(teamId: string, userId: string): Promise<boolean>;
  /** Memberships of these teams, or of this user; every membership with neither. */
  members(query?: { team_ids?: readonly string[]; user_id?: string }): Promise<TeamMemberDoc[]>;
}

/** A budget notification (README "Cost and budgets"): one per scope, period and share, whichever replica saw it first. */
export interface BudgetNotificationDoc {
  /** `<scope kind>:<scope id>:<period>:<period start>:<share>`: inserted once. */
  _id: string;
  scope: { kind: 'user' | 'team'; id: string; name: string };
  share: number;
  budget: Budget;
  spent_usd: number;
  period_start: Date;
  resets_at: Date;
  created_at: Date;
}

export interface NotificationStore {
  /** Inserts unless one with its _id exists: true for the one caller that inserted it. */
  claim(doc: BudgetNotificationDoc): Promise<boolean>;
  /** Notifications of these scopes (user or team ids) whose period has not ended at `now`, newest first. */
  current(scopeIds: readonly string[], now: Date): Promise<BudgetNotificationDoc[]>;
}

export interface CredentialStore {
  /** Inserts or replaces the (user, server) row, keeping its _id and created_at. */
  upsert(doc: CredentialDoc): Promise<void>;
  get(userId: string, server: string): Promise<CredentialDoc | null>;
  /** Sorted by user id, then server. */
  list(userId?: string): Promise<CredentialDoc[]>;
  delete(userId: string, server: string): Promise<boolean>;
  deleteForUser(userId: string): Promise<number>;
}

export interface ProviderKeyStore {
  /** Inserts or replaces the (user, provider) row, keeping its _id and created_at. */
  upsert(doc: ProviderKeyDoc): Promise<void>;
  get(userId: string, provider: string): Promise<ProviderKeyDoc | null>;
  /** Sorted by user id, then provider. */
  list(userId?: string): Promise<ProviderKeyDoc[]>;
  delete(userId: string, provider: string): Promise<boolean>;
  deleteForUser(userId: string): Promise<number>;
}

export interface LeaseStore {
  /** Takes (or renews) a named lease when free, expired or already ours; one atomic decision. */
  acquire(name: string, holder: string, ms: number, now?: Date): Promise<boolean>;
  release(name: string, holder: string): Promise<void>;
}

/**
 * Ledgers of the limits every process shares (budgets, per-user rate limits): each grant and
 * settle is one atomic step on a scope's ledger (limits/quota.ts decides; the store makes it
 * atomic), so N processes never grant more than a limit between them.
 */
export interface QuotaStore extends QuotaLedger {
  /**
   * Forgets ledger state last used before `before` (minutes ago, not seconds: a step in flight
   * must never meet a forgotten version). A ledger forgotten whole starts again at the recorded spend.
   */
  prune(before: Date): Promise<number>;
}

/** A chain as the store holds it: where its writer got to, and what retention left of its start. */
export interface ChainState {
  head: ChainHeadDoc;
  anchor: ChainAnchorDoc | null;
}

type StoredRecord = Record<string, unknown> & { _id: string };

/**
 * One step of a chain as the store holds it: the record at it, or — for a step a record left
 * when it was changed — that record (null when it is gone).
 */
export type ChainEntry =
  | { kind: 'record'; seq: number; collection: string; record: StoredRecord }
  | { kind: 'left'; seq: number; collection: string; record_id: string; record: StoredRecord | null };

/** What `aibridge audit verify` reads (README "Tamper evidence"); the checking is audit/verify.ts's. */
export interface ChainStore {
  /** Every chain with a head, by id. */
  chains(): Promise<ChainState[]>;
  /** The smallest chain id any record names that is greater than `after`; null when none. */
  nextChain(after: string): Promise<string | null>;
  /** Up to `limit` entries of a chain with seq > `afterSeq`, in seq order (records before steps left). */
  steps(chain: string, afterSeq: number, limit: number): Promise<ChainEntry[]>;
  /**
   * The lowest step of the first interceptions (by start) of a chain started at or after
   * `since`, counting steps they left; null when there is none.
   */
  firstSeqSince(chain: string, since: Date): Promise<number | null>;
  /** Up to `limit` records in no chain, dated at or after `since` (records of earlier versions are older). */
  unchained(since: Date, limit: number): Promise<Array<{ collection: string; _id: string }>>;
}

/** Every collection, for `aibridge migrate` (README "Storage"): documents in _id order, in pages. */
export const COLLECTIONS = {
  users: 'users',
  apiKeys: 'api_keys',
  interceptions: 'interceptions',
  userPrompts: 'user_prompts',
  tokenUsages: 'token_usages',
  toolUsages: 'tool_usages',
  modelThoughts: 'model_thoughts',
  annotations: 'annotations',
  workContexts: 'work_contexts',
  mcpCredentials: 'mcp_credentials',
  providerKeys: 'provider_keys',
  leases: 'leases',
  quotaLedgers: 'quota_ledgers',
  teams: 'teams',
  teamMembers: 'team_members',
  budgetNotifications: 'budget_notifications',
  chainHeads: 'chain_heads',
  chainAnchors: 'chain_anchors',
  chainLinks: 'chain_links',
} as const;
export type CollectionName = (typeof COLLECTIONS)[keyof typeof COLLECTIONS];

/** Where each kind of child record is kept. */
export const CHILD_COLLECTION_OF = {
  user_prompt: COLLECTIONS.userPrompts,
  token_usage: COLLECTIONS.tokenUsages,
  tool_usage: COLLECTIONS.toolUsages,
  model_thought: COLLECTIONS.modelThoughts,
  annotation: COLLECTIONS.annotations,
} as const;
export type ChildKind = keyof typeof CHILD_COLLECTION_OF;

export const CHILD_COLLECTIONS = Object.values(CHILD_COLLECTION_OF);

/** Collections of records (each a step of a chain), and the field that dates each record. */
export const RECORD_COLLECTIONS = [COLLECTIONS.interceptions, ...CHILD_COLLECTIONS] as const;
export type RecordCollection = (typeof RECORD_COLLECTIONS)[number];
export const timeFieldOf = (collection: RecordCollection) =>
  collection === COLLECTIONS.interceptions ? 'started_at' : 'created_at';

/** Usage is grouped by UTC day: day numbers since the epoch, named YYYY-MM-DD. */
export const DAY_MS = 86_400_000;
export const dayName = (day: number): string => new Date(day * DAY_MS).toISOString().slice(0, 10);

/** Collections `migrate` copies (leases and quota ledgers are live state of the running replicas). */
export const MIGRATED_COLLECTIONS: readonly CollectionName[] = [
  COLLECTIONS.users,
  COLLECTIONS.apiKeys,
  COLLECTIONS.mcpCredentials,
  COLLECTIONS.teams,
  COLLECTIONS.teamMembers,
  COLLECTIONS.budgetNotifications,
  COLLECTIONS.providerKeys,
  COLLECTIONS.interceptions,
  ...CHILD_COLLECTIONS,
  COLLECTIONS.workContexts,
  // The chains travel with their records, so the copy verifies as the original did.
  COLLECTIONS.chainHeads,
  COLLECTIONS.chainAnchors,
  COLLECTIONS.chainLinks,
];

export interface DocumentSource {
  /** Up to `limit` documents of a collection with _id > afterId, in _id order, as MongoDB stores them. */
  scan(collection: CollectionName, afterId: string | null, limit: number): Promise<Array<{ _id: string }>>;
  estimate(collection: CollectionName): Promise<number>;
}

export interface DocumentSink {
  /** Inserts documents, skipping any whose _id already exists; returns how many were new. */
  insertNew(collection: CollectionName, docs: ReadonlyArray<{ _id: string }>): Promise<number>;
}

export interface Store {
  readonly kind: 'embedded' | 'mongodb';
  /** Where it lives, safe to show (credentials hidden). */
  readonly location: string;
  readonly records: RecordStore;
  readonly audit: AuditStore;
  readonly identity: IdentityStore;
  readonly credentials: CredentialStore;
  readonly teams: TeamStore;
  readonly notifications: NotificationStore;
  readonly providerKeys: ProviderKeyStore;
  readonly leases: LeaseStore;
  readonly quotas: QuotaStore;
  readonly documents: DocumentSource & DocumentSink;
  readonly chain: ChainStore;
  /** True when the store answers within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<boolean>;
  /**
   * Whether a failed write can never succeed as it is (e.g. a document the store refuses),
   * as opposed to an outage worth retrying. The recorder dead-letters the former.
   */
  isPermanent(err: unknown): boolean;
  close(): Promise<void>;
}

/**
 * The members of Store that are groups of methods: its sub-stores. Each one's methods are
 * implemented once per store (mongo/<name>.ts, sqlite/<name>.ts) and placed on a thread in
 * sqlite/threads.ts; a method or sub-store added here compiles only once all three have it.
 */
export type SubStoreName = {
  [K in keyof Store]: Store[K] extends (...args: never[]) => unknown ? never : Store[K] extends object ? K : never;
}[keyof Store];

/** A unique key (username, token hash, (user, server)) already exists. */
export class DuplicateError extends Error {}

/** A filter the store will not run as it is (it would stand for too much): the caller should narrow it. */
export class TooBroadError extends Error {}

/** Hides credentials when a URI has to be shown to a person. */
export function redactUri(uri: string): string {
  const start = uri.indexOf('//') + 2;
  const queryAt = uri.indexOf('?', start);
  const authority = queryAt < 0 ? uri.slice(start) : uri.slice(start, queryAt);
  // Everything up to the last @ before the query: a password with an unencoded / or @ is still hidden.
  const at = start >= 2 ? authority.lastIndexOf('@') : -1;
  const head = at < 0 ? uri.slice(0, start + authority.length) : `${uri.slice(0, start)}***${authority.slice(at)}`;
  const query = queryAt < 0 ? '' : uri.slice(queryAt);
  return head + query.replace(SECRET_PARAM, (_m, name: string) => `${name}=***`);
}

/** Query options whose values are secrets (tlsCertificateKeyFilePassword, authMechanismProperties, …). */
const SECRET_PARAM = /([?&](?:[^=&]*(?:pass|secret|token|key|credential|authMechanismProperties)[^=&]*))=[^&]*/gi;
