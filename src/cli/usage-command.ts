import { type Command, InvalidArgumentError } from 'commander';
import { formatTerm } from '../audit/query.ts';
import { parseDuration } from '../config/duration.ts';
import { type UsageGroup as StoreGroup, USAGE_KEYS } from '../store/store.ts';
import { type ApiOptions, addApiOptions, apiGet, checkApiOptions } from './api-client.ts';
import { addOutputOptions, outputOf, printRows, usdCell } from './output.ts';

/** A group as the usage API shows it: the store's, with the initiator named. */
type UsageGroup = Omit<StoreGroup, 'key'> & {
  total_input_tokens: number;
  key: { initiator?: { username: string | null; id: string }; [k: string]: unknown };
};

type Options = ApiOptions & { groupBy?: string; since?: number; q?: string; output?: string; format?: string };

/** Known keys, each once: a typo is refused by the CLI (exit 2), not by the server. */
function parseGroupBy(text: string): string {
  const keys = text
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const unknown = keys.filter((k) => !(USAGE_KEYS as readonly string[]).includes(k));
  if (unknown.length) throw new InvalidArgumentError(`unknown key ${unknown.join(', ')}; use ${USAGE_KEYS.join(', ')}`);
  if (new Set(keys).size !== keys.length) throw new InvalidArgumentError('a key is given twice');
  return keys.join(',');
}

function parseSince(text: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new InvalidArgumentError('a duration like 7d, 24h or 30m');
  }
}

/** Input is every prompt token read (README "Token figures"), with its parts after it. */
const SUMS = [
  'interceptions',
  'total_input_tokens',
  'input_tokens',
  'cache_read_input_tokens',
  'cache_write_input_tokens',
  'output_tokens',
  'cost_usd',
  'tool_calls',
  'failed',
];

/** aibridge usage: tokens and USD summed by the store (SPEC §13), through the usage API. */
export function usageCommand(program: Command): void {
  const command = program
    .command('usage')
    .description('tokens, cost and tool calls summed by initiator, model, provider, client and/or day')
    .option('--group-by <keys>', `comma-separated: ${USAGE_KEYS.join(', ')}`, parseGroupBy)
    .option('--since <duration>', 'only interceptions started this long ago or later, e.g. 7d, 24h', parseSince)
    .option('-q, --q <query>', 'any audit filter, e.g. "client:\\"Claude Code\\" model:gpt-5"');
  addApiOptions(addOutputOptions(command, ['table', 'json', 'csv'], 'table')).action(async (opts: Options) => {
    checkApiOptions(opts);
    const terms = opts.q ? [opts.q] : [];
    if (opts.since !== undefined) {
      terms.push(formatTerm('started_after', new Date(Date.now() - opts.since).toISOString()));
    }
    const body = await apiGet<{ group_by: string[]; groups: UsageGroup[] }>(opts, '/usage', {
      q: terms.join(' '),
      group_by: opts.groupBy,
    });
    const format = outputOf(opts);
    const rows = body.groups.map((g) => ({
      ...Object.fromEntries(
        body.group_by.map((k) => [
          k,
          k === 'initiator' ? (g.key.initiator?.username ?? g.key.initiator?.id) : g.key[k],
        ]),
      ),
      ...g,
      cost_usd: format === 'table' ? usdCell(g.cost_usd) : g.cost_usd,
    }));
    printRows(rows, [...body.group_by, ...SUMS], format, body);
  });
}
