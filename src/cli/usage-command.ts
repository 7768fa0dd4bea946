import { type Command, InvalidArgumentError } from 'commander';
import { formatTerm } from '../audit/query.ts';
import { GROUP_KEYS, type UsageReport } from '../audit/usage-report.ts';
import { parseDuration } from '../duration.ts';
import { addApiOptions } from './api-client.ts';
import { openAuditSource, type SourceOptions } from './audit-source.ts';
import { CONFIG_FLAG } from './common.ts';
import { addOutputOptions, outputOf, printRows, usdCell } from './output.ts';

type Options = SourceOptions & { groupBy?: string; since?: number; q?: string; output?: string; format?: string };

/** Known keys, each once: a typo is refused by the CLI (exit 2), not by the server. */
function parseGroupBy(text: string): string {
  const keys = text
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const unknown = keys.filter((k) => !(GROUP_KEYS as readonly string[]).includes(k));
  if (unknown.length) throw new InvalidArgumentError(`unknown key ${unknown.join(', ')}; use ${GROUP_KEYS.join(', ')}`);
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

/** aibridge usage: tokens and USD summed by the store, through a bridge's usage API or on the store itself. */
export function usageCommand(program: Command): void {
  const command = program
    .command('usage')
    .description(
      'tokens, cost and tool calls summed by initiator, team, model, provider, client, day and/or repo: through a bridge with --token, else from the store (owner view)',
    )
    .option('--group-by <keys>', `comma-separated: ${GROUP_KEYS.join(', ')}`, parseGroupBy)
    .option('--since <duration>', 'only interceptions started this long ago or later, e.g. 7d, 24h', parseSince)
    .option('-q, --q <query>', 'any audit filter, e.g. "client:\\"Claude Code\\" model:gpt-5"');
  addApiOptions(addOutputOptions(command, ['table', 'json', 'csv'], 'table').option(...CONFIG_FLAG)).action(
    async (opts: Options) => {
      const terms = opts.q ? [opts.q] : [];
      if (opts.since !== undefined) {
        terms.push(formatTerm('started_after', new Date(Date.now() - opts.since).toISOString()));
      }
      const source = await openAuditSource(opts);
      let body: UsageReport;
      try {
        body = await source.usage(terms.join(' '), opts.groupBy);
      } finally {
        await source.close();
      }
      const format = outputOf(opts);
      const rows = body.groups.map((g) => ({
        ...Object.fromEntries(
          body.group_by.map((k) => [
            k,
            k === 'initiator'
              ? (g.key.initiator?.username ?? g.key.initiator?.id)
              : k === 'team'
                ? (g.key.team?.name ?? null)
                : g.key[k],
          ]),
        ),
        ...g,
        cost_usd: format === 'table' ? usdCell(g.cost_usd) : g.cost_usd,
      }));
      printRows(rows, [...body.group_by, ...SUMS], format, body);
    },
  );
}
