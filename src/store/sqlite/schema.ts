import type { CollectionName } from '../store.ts';
import { ROLLUP_STATEMENTS } from './rollup.ts';

/**
 * The embedded store keeps each document whole, as JSON in `doc` (dates as epoch
 * milliseconds), with the fields it filters, sorts or sums on copied into plain columns
 * (written with the document) that carry the indexes. A document therefore reads back
 * exactly as it was written, and queries run on real columns — which, unlike generated
 * ones, an index can cover, so a usage summary reads one index and no documents.
 */
interface Table {
  /** Columns copied from the document: name → JSON path in doc. */
  columns: Record<string, string>;
  /** Top-level fields holding dates (stored as epoch ms). */
  dates: readonly string[];
  indexes: string[];
}

const TOTAL = (field: string) => `$.totals.${field}`;
/** The chain's place of a record (chain.ts), copied out for verify's walk. */
const CHAINED = { chain: '$.chain', seq: '$.seq' };

export const TABLES: Record<CollectionName, Table> = {
  users: {
    columns: { username: '$.username' },
    dates: ['created_at', 'disabled_at', 'deleted_at'],
    indexes: [
      'CREATE UNIQUE INDEX IF NOT EXISTS users_username ON users(username)',
      // Usernames are unique regardless of case; names that clash in case from before stay (not UNIQUE).
      'CREATE INDEX IF NOT EXISTS users_username_folded ON users(lower(username))',
    ],
  },
  api_keys: {
    columns: { user_id: '$.user_id', hash: '$.hash', kind: '$.kind', expires_at: '$.expires_at' },
    dates: ['created_at', 'expires_at', 'last_used_at', 'revoked_at'],
    indexes: [
      'CREATE UNIQUE INDEX IF NOT EXISTS api_keys_hash ON api_keys(hash)',
      'CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys(user_id)',
    ],
  },
  mcp_credentials: {
    columns: { user_id: '$.user_id', server: '$.server' },
    dates: ['created_at', 'updated_at'],
    indexes: ['CREATE UNIQUE INDEX IF NOT EXISTS mcp_credentials_user_server ON mcp_credentials(user_id, server)'],
  },
  provider_keys: {
    columns: { user_id: '$.user_id', provider: '$.provider' },
    dates: ['created_at', 'updated_at'],
    indexes: ['CREATE UNIQUE INDEX IF NOT EXISTS provider_keys_user_provider ON provider_keys(user_id, provider)'],
  },
  leases: {
    columns: { holder: '$.holder', until: '$.until' },
    dates: ['until'],
    indexes: [],
  },
  teams: {
    columns: { name_key: '$.name_key' },
    dates: ['created_at'],
    indexes: ['CREATE UNIQUE INDEX IF NOT EXISTS teams_name ON teams(name_key)'],
  },
  team_members: {
    columns: { team_id: '$.team_id', user_id: '$.user_id' },
    dates: ['created_at'],
    indexes: [
      'CREATE INDEX IF NOT EXISTS team_members_team ON team_members(team_id)',
      'CREATE INDEX IF NOT EXISTS team_members_user ON team_members(user_id)',
    ],
  },
  budget_notifications: {
    columns: { scope_id: '$.scope.id', resets_at: '$.resets_at' },
    dates: ['period_start', 'resets_at', 'created_at'],
    indexes: ['CREATE INDEX IF NOT EXISTS budget_notifications_scope ON budget_notifications(scope_id, resets_at)'],
  },
  quota_ledgers: {
    columns: { until: '$.until' },
    dates: [],
    indexes: ['CREATE INDEX IF NOT EXISTS quota_ledgers_until ON quota_ledgers(until)'],
  },
  interceptions: {
    columns: {
      initiator_id: '$.initiator_id',
      provider: '$.provider',
      provider_name: '$.provider_name',
      model: '$.model',
      client: '$.client',
      client_session_id: '$.client_session_id',
      started_at: '$.started_at',
      ended_at: '$.ended_at',
      status: '$.status',
      cost_usd: '$.cost_usd',
      input_tokens: TOTAL('input_tokens'),
      output_tokens: TOTAL('output_tokens'),
      cache_read_input_tokens: TOTAL('cache_read_input_tokens'),
      cache_write_input_tokens: TOTAL('cache_write_input_tokens'),
      tool_calls: TOTAL('tool_calls'),
      ...CHAINED,
    },
    dates: ['started_at', 'ended_at'],
    // One index per audit filter key, each ending in the page order, so a filtered first
    // page walks one index range and stops after `limit` rows.
    indexes: [
      'started_at',
      'initiator_id',
      'provider',
      'provider_name',
      'model',
      'client',
      'client_session_id',
      'status',
    ]
      .map((key) => {
        const columns = key === 'started_at' ? 'started_at, id' : `${key}, started_at, id`;
        return `CREATE INDEX IF NOT EXISTS interceptions_${key} ON interceptions(${columns})`;
      })
      .concat(
        // Covers usage summaries and filtered counts: every column they read, time first for ranges.
        `CREATE INDEX IF NOT EXISTS interceptions_usage ON interceptions(started_at, status, initiator_id,
          provider, model, client, cost_usd, input_tokens, output_tokens, cache_read_input_tokens,
          cache_write_input_tokens, tool_calls)`,
      ),
  },
  user_prompts: child(),
  token_usages: child(),
  tool_usages: child({
    columns: { initiator_id: '$.initiator_id', tool_call_id: '$.tool_call_id', tool: '$.tool' },
    dates: ['result_at'],
    indexes: [
      // A client tool's result finds its call: SEARCH tool_usages USING INDEX tool_usages_call.
      'CREATE INDEX IF NOT EXISTS tool_usages_call ON tool_usages(initiator_id, tool_call_id, created_at)',
      // q tool:NAME: the interceptions that called it.
      'CREATE INDEX IF NOT EXISTS tool_usages_tool ON tool_usages(tool, interception_id)',
    ],
  }),
  model_thoughts: child(),
  annotations: child({
    columns: { initiator_id: '$.initiator_id', client_session_id: '$.client_session_id' },
    dates: [],
    indexes: [],
  }),
  work_contexts: {
    columns: {
      initiator_id: '$.initiator_id',
      client_session_id: '$.client_session_id',
      interception_id: '$.interception_id',
      repo: '$.repo',
      branch: '$.branch',
      updated_at: '$.updated_at',
    },
    dates: ['repo_at', 'branch_at', 'updated_at'],
    indexes: [
      // An interception's context: by its session, or (without one) by itself.
      'CREATE INDEX IF NOT EXISTS work_contexts_session ON work_contexts(initiator_id, client_session_id)',
      'CREATE INDEX IF NOT EXISTS work_contexts_interception ON work_contexts(interception_id)',
      // q repo: and branch:
      'CREATE INDEX IF NOT EXISTS work_contexts_repo ON work_contexts(repo)',
      'CREATE INDEX IF NOT EXISTS work_contexts_branch ON work_contexts(branch)',
      'CREATE INDEX IF NOT EXISTS work_contexts_updated ON work_contexts(updated_at)',
    ],
  },
  chain_heads: { columns: {}, dates: ['started_at', 'updated_at'], indexes: [] },
  chain_anchors: { columns: {}, dates: ['updated_at'], indexes: [] },
  chain_links: {
    columns: { chain: '$.chain', seq: '$.seq', record_id: '$.record_id' },
    dates: [],
    indexes: [
      'CREATE INDEX IF NOT EXISTS chain_links_step ON chain_links(chain, seq)',
      'CREATE INDEX IF NOT EXISTS chain_links_record ON chain_links(record_id)',
    ],
  },
};

/** A child of an interception: found by its parent, in created_at order; plus what `more` adds. */
function child(more: Table = { columns: {}, dates: [], indexes: [] }): Table {
  return {
    columns: { interception_id: '$.interception_id', created_at: '$.created_at', ...CHAINED, ...more.columns },
    dates: ['created_at', ...more.dates],
    indexes: [...more.indexes],
  };
}

for (const [name, table] of Object.entries(TABLES)) {
  if (table.columns.interception_id && table.columns.created_at) {
    table.indexes.push(`CREATE INDEX IF NOT EXISTS ${name}_parent ON ${name}(interception_id, created_at)`);
  }
  if (table.columns.seq && name !== 'chain_links') {
    // A chain's steps in order (verify); with the record's date, records in no chain since a time.
    const time = table.columns.started_at ? 'started_at' : 'created_at';
    table.indexes.push(`CREATE INDEX IF NOT EXISTS ${name}_chain ON ${name}(chain, seq, ${time})`);
  }
}

/**
 * Bumped when the layout changes (migrate() refuses a file from a newer version). 2: usage_days;
 * 3: quota_ledgers, in place of rate_windows; 4: users by case-folded username; 5: teams,
 * team_members, budget_notifications; 6: provider_keys; 7: annotations, work_contexts, and
 * tool_usages' initiator_id, tool_call_id and tool columns; 8: the tamper-evident chain's columns
 * and tables (older rows keep no place in a chain).
 */
export const SCHEMA_VERSION = 8;

/** Every table, created when missing (its indexes come after addedColumns). */
export function tableStatements(): string[] {
  return Object.entries(TABLES).map(([name, table]) => {
    const columns = ['id TEXT PRIMARY KEY', 'doc TEXT NOT NULL', ...Object.keys(table.columns)].join(', ');
    return `CREATE TABLE IF NOT EXISTS ${name} (${columns})`;
  });
}

/**
 * The statements that give a table written by an older version the columns it lacks, filled from
 * each row's document. `present` lists the table's columns now.
 */
export function addedColumns(name: CollectionName, present: ReadonlySet<string>): string[] {
  const missing = Object.entries(TABLES[name].columns).filter(([column]) => !present.has(column));
  if (!missing.length) return [];
  return [
    ...missing.map(([column]) => `ALTER TABLE ${name} ADD COLUMN ${column}`),
    `UPDATE ${name} SET ${missing.map(([column, path]) => `${column} = doc ->> '${path}'`).join(', ')}`,
  ];
}

export function indexStatements(): string[] {
  return [...Object.values(TABLES).flatMap((table) => table.indexes), ...ROLLUP_STATEMENTS];
}

/** Per table: its column names, and how to read each one's value off a document. */
export const COLUMN_READERS = Object.fromEntries(
  Object.entries(TABLES).map(([name, table]) => [
    name,
    Object.entries(table.columns).map(([column, path]) => {
      const keys = path.replace(/^\$\./, '').split('.');
      const read = (doc: Record<string, unknown>) =>
        keys.reduce<unknown>((value, key) => (value as Record<string, unknown> | null | undefined)?.[key], doc);
      return { column, read };
    }),
  ]),
) as Record<CollectionName, Array<{ column: string; read(doc: Record<string, unknown>): unknown }>>;
