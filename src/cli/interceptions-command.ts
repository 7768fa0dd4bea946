import { once } from 'node:events';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { formatTerm, parseRfc3339, type QueryKey } from '../audit/query.ts';
import { PROVIDER_TYPES } from '../providers/registry.ts';
import { totalInput } from '../store/figures.ts';
import type { ApiInterception, ApiList } from '../store/present.ts';
import { addApiOptions } from './api-client.ts';
import { type AuditSource, openAuditSource } from './audit-source.ts';
import { CONFIG_FLAG, ExitError } from './common.ts';
import { addOutputOptions, csvField, table, usdCell } from './output.ts';

interface ListOptions {
  initiator?: string;
  provider?: string;
  providerName?: string;
  model?: string;
  client?: string;
  startedAfter?: string;
  startedBefore?: string;
  afterId?: string;
  limit?: number;
  all?: boolean;
  format: 'json' | 'ndjson' | 'csv' | 'table';
  output?: 'json' | 'ndjson' | 'csv' | 'table';
  session?: string;
  status?: string;
  team?: string;
  tool?: string;
  repo?: string;
  branch?: string;
  pr?: string;
  issue?: string;
  url?: string;
  token?: string;
  config?: string;
}

const FILTERS: Array<[QueryKey, keyof ListOptions]> = [
  ['initiator', 'initiator'],
  ['provider', 'provider'],
  ['provider_name', 'providerName'],
  ['model', 'model'],
  ['client', 'client'],
  ['started_after', 'startedAfter'],
  ['started_before', 'startedBefore'],
  ['session', 'session'],
  ['status', 'status'],
  ['team', 'team'],
  ['tool', 'tool'],
  ['repo', 'repo'],
  ['branch', 'branch'],
  ['pr', 'pr'],
  ['issue', 'issue'],
];

/** What `status:` takes in `q`: refused by the CLI itself (exit 2) before any request. */
const STATUSES = ['completed', 'failed', 'running'] as const;

function parseLimit(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= 1000)) throw new InvalidArgumentError('must be an integer from 1 to 1000');
  return n;
}

/** Builds `q` from the flags; bad times and unquotable values stop here, before any request. */
function queryFromFlags(opts: Partial<ListOptions>): string {
  const terms: string[] = [];
  for (const [key, flag] of FILTERS) {
    const value = opts[flag];
    if (typeof value !== 'string') continue;
    const option = `--${key.replace('_', '-')}`;
    if (value === '') throw new ExitError(`${option} must not be empty`, 2);
    if (key.startsWith('started_') && !parseRfc3339(value)) {
      throw new ExitError(`${option} "${value}" is not an RFC 3339 time, e.g. 2025-01-31T13:45:00Z`, 2);
    }
    try {
      terms.push(formatTerm(key, value));
    } catch (err) {
      throw new ExitError(`${option}: ${(err as Error).message}`, 2);
    }
  }
  const after = opts.startedAfter && parseRfc3339(opts.startedAfter);
  const before = opts.startedBefore && parseRfc3339(opts.startedBefore);
  if (after && before && before <= after) throw new ExitError('--started-before must be later than --started-after', 2);
  return terms.join(' ');
}

/**
 * One row per interception, the same columns as the console's CSV export: sums over its upstream
 * calls, input as every prompt token read (`total_input_tokens`) with its parts, and its prompt.
 */
export const CSV_HEADER = [
  'id',
  'started_at',
  'ended_at',
  'status',
  'initiator_id',
  'initiator_username',
  'provider',
  'provider_name',
  'model',
  'client',
  'client_session_id',
  'via',
  'total_input_tokens',
  'input_tokens',
  'cache_read_input_tokens',
  'cache_write_input_tokens',
  'output_tokens',
  'cost_usd',
  'tool_calls',
  'tools',
  'tool_results',
  'repo',
  'branch',
  'prompt',
] as const;

type Summed = 'input_tokens' | 'output_tokens' | 'cache_read_input_tokens' | 'cache_write_input_tokens';

/** How the request reached the bridge: `proxy` through the intercepting proxy, else `direct`. */
const viaOf = (r: ApiInterception) => (typeof r.metadata.via === 'string' ? r.metadata.via : 'direct');

/** One interception's row: its sums and prompt (CSV and table). */
function flat(r: ApiInterception): Record<(typeof CSV_HEADER)[number], unknown> {
  const sum = (key: Summed) => r.token_usages.reduce((total, u) => total + u[key], 0);
  const counts = {
    input_tokens: sum('input_tokens'),
    cache_read_input_tokens: sum('cache_read_input_tokens'),
    cache_write_input_tokens: sum('cache_write_input_tokens'),
  };
  return {
    id: r.id,
    started_at: r.started_at,
    ended_at: r.ended_at,
    status: r.status ?? 'running',
    initiator_id: r.initiator.id,
    initiator_username: r.initiator.username,
    provider: r.provider,
    provider_name: r.provider_name,
    model: r.model,
    client: r.client,
    client_session_id: r.client_session_id,
    via: viaOf(r),
    total_input_tokens: totalInput(counts),
    ...counts,
    output_tokens: sum('output_tokens'),
    cost_usd: r.cost_usd,
    tool_calls: r.tool_usages.length,
    // The tools' names, once each; how many client tools' results came back.
    tools: [...new Set(r.tool_usages.map((t) => t.tool))].join(' '),
    tool_results: r.tool_usages.filter((t) => t.result_at).length,
    repo: r.work?.repo ?? '',
    branch: r.work?.branch ?? '',
    prompt: r.user_prompts[0]?.prompt ?? '',
  };
}

const csvRow = (r: ApiInterception) => {
  const row = flat(r);
  return CSV_HEADER.map((c) => csvField(row[c])).join(',');
};

/** The table for people: input is every prompt token read (README "Token figures"). */
const TABLE_COLUMNS = ['started_at', 'initiator', 'client', 'model', 'input', 'output', 'cost_usd', 'status', 'id'];
const tableRow = (r: ApiInterception) => {
  const row = flat(r);
  return {
    ...row,
    initiator: row.initiator_username ?? row.initiator_id,
    input: row.total_input_tokens,
    output: row.output_tokens,
    cost_usd: usdCell(r.cost_usd),
  };
};

/** Writes rows as they arrive, waiting for stdout to drain, so an export never sits in memory. */
class Output {
  readonly #format: ListOptions['format'];
  #rows = 0;
  readonly #table: Array<Record<string, unknown>> = [];
  constructor(format: ListOptions['format']) {
    this.#format = format;
  }

  async #write(text: string) {
    if (!process.stdout.write(text)) await once(process.stdout, 'drain');
  }

  async start() {
    if (this.#format === 'csv') await this.#write(`${CSV_HEADER.join(',')}\r\n`);
  }

  /** The same bytes JSON.stringify(all, null, 2) would give, written piece by piece. */
  async rows(results: ApiInterception[]) {
    let chunk = '';
    for (const r of results) {
      if (this.#format === 'ndjson') chunk += `${JSON.stringify(r)}\n`;
      else if (this.#format === 'csv') chunk += `${csvRow(r)}\r\n`;
      else if (this.#format === 'table') this.#table.push(tableRow(r));
      else chunk += `${this.#rows === 0 ? '[\n' : ',\n'}  ${JSON.stringify(r, null, 2).replaceAll('\n', '\n  ')}`;
      this.#rows++;
    }
    if (chunk) await this.#write(chunk);
  }

  async end() {
    if (this.#format === 'json') await this.#write(this.#rows === 0 ? '[]\n' : '\n]\n');
    if (this.#format === 'table')
      await this.#write(this.#table.length ? table(this.#table, TABLE_COLUMNS) : '(none)\n');
  }
}

/** Progress on stderr: rewritten in place on a terminal, else a line every few seconds. */
function progress() {
  const started = Date.now();
  let lastLine = 0;
  const line = (pages: number, rows: number, total: number) => {
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? Math.round(rows / seconds) : rows;
    return `${rows}/${total} interceptions, ${pages} page${pages === 1 ? '' : 's'}, ${seconds.toFixed(1)} s, ${rate}/s`;
  };
  return {
    page(pages: number, rows: number, total: number) {
      if (process.stderr.isTTY) process.stderr.write(`\r${line(pages, rows, total)}\x1b[K`);
      else if (Date.now() - lastLine > 2_000) {
        lastLine = Date.now();
        process.stderr.write(`${line(pages, rows, total)}\n`);
      }
    },
    done(pages: number, rows: number) {
      const tty = process.stderr.isTTY;
      process.stderr.write(`${tty ? '\r' : ''}exported ${line(pages, rows, rows)}${tty ? '\x1b[K' : ''}\n`);
    },
  };
}

async function list(opts: ListOptions): Promise<void> {
  const q = queryFromFlags(opts);
  const source = await openAuditSource(opts);
  try {
    await write(source, q, opts);
  } finally {
    await source.close();
  }
}

async function write(source: AuditSource, q: string, opts: ListOptions): Promise<void> {
  const fetchPage = (limit: number | undefined, afterId: string | undefined) => source.page(q, limit, afterId);
  // A reader that stops early (`| head`) is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const out = new Output((opts.output ?? opts.format) as ListOptions['format']);
  await out.start();
  if (!opts.all) {
    const page = await fetchPage(opts.limit, opts.afterId);
    await out.rows(page.results);
    return out.end();
  }
  const pageSize = opts.limit ?? 1000;
  const shown = progress();
  let pages = 0;
  let rows = 0;
  // The next page is asked for before this one is written, so the server reads it meanwhile.
  let next: Promise<ApiList> | undefined = fetchPage(pageSize, opts.afterId);
  while (next) {
    const page: ApiList = await next;
    pages++;
    rows += page.results.length;
    const full = page.results.length === pageSize;
    next = full ? fetchPage(pageSize, page.results.at(-1)?.id) : undefined;
    // A failed prefetch is reported by the await above on the next turn, not as unhandled.
    next?.catch(() => {});
    await out.rows(page.results);
    shown.page(pages, rows, page.count);
  }
  await out.end();
  shown.done(pages, rows);
}

export function interceptionsCommand(program: Command): void {
  const list_ = program
    .command('interceptions')
    .description('read the audit log of the bridge')
    .command('list')
    .description('list interceptions, newest first: through a bridge with --token, else from the store (owner view)')
    .option('--initiator <who>', 'me, a user id or a username')
    .addOption(new Option('--provider <type>', 'provider type').choices(PROVIDER_TYPES))
    .option('--provider-name <name>', 'configured provider name')
    .option('--model <model>', 'model name')
    .option('--client <client>', 'client, e.g. "Claude Code"')
    .option('--started-after <time>', 'RFC 3339 time, e.g. 2025-01-31T00:00:00Z')
    .option('--started-before <time>', 'RFC 3339 time')
    .option('--session <id>', "the agent's own session id")
    .addOption(new Option('--status <status>', 'interception status').choices(STATUSES))
    .option('--team <name>', "a team's members (as the team is now)")
    .option('--tool <name>', 'a tool the model called (an MCP tool by its own name)')
    .option('--repo <repo>', "the work context's repo, e.g. github.com/acme/app")
    .option('--branch <branch>', "the work context's branch")
    .option('--pr <url|number>', 'a pull request the session named: its URL, or its number')
    .option('--issue <url|number>', 'an issue the session named: its URL, or its number')
    .option('--after-id <id>', 'start after this interception (the last id of a previous page)')
    .option('--limit <n>', 'rows per page, 1-1000 (server default 100; 1000 with --all)', parseLimit)
    .option('--all', 'follow the pages to the end, streaming the output')
    .option(...CONFIG_FLAG);
  addApiOptions(addOutputOptions(list_, ['json', 'ndjson', 'csv', 'table'], 'json')).action((opts: ListOptions) =>
    list(opts),
  );
}
