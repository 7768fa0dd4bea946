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
    indexes: ['CREATE UNIQUE INDEX IF NOT EXISTS users_username ON users(username)'],
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
  leases: {
    columns: { holder: '$.holder', until: '$.until' },
    dates: ['until'],
    indexes: [],
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
  tool_usages: child(),
  model_thoughts: child(),
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

function child(): Table {
  return {
    columns: { interception_id: '$.interception_id', created_at: '$.created_at', ...CHAINED },
    dates: ['created_at'],
    indexes: [],
  };
}

for (const [name, table] of Object.entries(TABLES)) {
  if (table.columns.interception_id) {
    table.indexes.push(`CREATE INDEX IF NOT EXISTS ${name}_parent ON ${name}(interception_id, created_at)`);
  }
  if (table.columns.seq && name !== 'chain_links') {
    // A chain's steps in order (verify); with the record's date, records in no chain since a time.
    const time = table.columns.started_at ? 'started_at' : 'created_at';
    table.indexes.push(`CREATE INDEX IF NOT EXISTS ${name}_chain ON ${name}(chain, seq, ${time})`);
  }
}

/** Tables whose rows gained the chain's columns in schema 4, and those columns. */
export const CHAINED_TABLES = Object.entries(TABLES)
  .filter(([name, table]) => table.columns.seq && name !== 'chain_links')
  .map(([name]) => name);
export const CHAIN_COLUMNS = Object.keys(CHAINED);

/**
 * Bumped when the layout changes (migrate() refuses a file from a newer version). 2: usage_days;
 * 3: quota_ledgers, in place of rate_windows; 4: the tamper-evident chain's columns and tables.
 */
export const SCHEMA_VERSION = 4;

export function createStatements(): string[] {
  const statements: string[] = [];
  for (const [name, table] of Object.entries(TABLES)) {
    const columns = ['id TEXT PRIMARY KEY', 'doc TEXT NOT NULL', ...Object.keys(table.columns)].join(', ');
    statements.push(`CREATE TABLE IF NOT EXISTS ${name} (${columns})`, ...table.indexes);
  }
  return [...statements, ...ROLLUP_STATEMENTS];
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
