import type { Command } from 'commander';
import { formatTerm } from '../audit/query.ts';
import { parseDuration } from '../config/duration.ts';
import { type UsageGroup as StoreGroup, USAGE_KEYS } from '../store/store.ts';
import { type ApiOptions, addApiOptions, apiGet, checkApiOptions } from './api-client.ts';
import { ExitError } from './common.ts';
import { addOutputOptions, outputOf, printRows } from './output.ts';

/** A group as the usage API shows it: the store's, with the initiator and team named. */
type UsageGroup = Omit<StoreGroup, 'key'> & {
  key: {
    initiator?: { username: string | null; id: string };
    team?: { name: string; id: string } | null;
    [k: string]: unknown;
  };
};

const GROUP_KEYS = [...USAGE_KEYS, 'team'];

type Options = ApiOptions & { groupBy?: string; since?: string; q?: string; output?: string; format?: string };

const SUMS = [
  'interceptions',
  'input_tokens',
  'output_tokens',
  'cache_read_input_tokens',
  'cache_write_input_tokens',
  'cost_usd',
  'tool_calls',
  'failed',
];

/** aibridge usage: tokens and USD summed by the store (SPEC §13), through the usage API. */
export function usageCommand(program: Command): void {
  const command = program
    .command('usage')
    .description('tokens, cost and tool calls summed by initiator, team, model, provider, client and/or day')
    .option('--group-by <keys>', `comma-separated: ${GROUP_KEYS.join(', ')}`)
    .option('--since <duration>', 'only interceptions started this long ago or later, e.g. 7d, 24h')
    .option('-q, --q <query>', 'any audit filter, e.g. "client:\\"Claude Code\\" model:gpt-5"');
  addApiOptions(addOutputOptions(command, ['table', 'json', 'csv'], 'table')).action(async (opts: Options) => {
    checkApiOptions(opts);
    const terms = opts.q ? [opts.q] : [];
    if (opts.since) {
      let ms: number;
      try {
        ms = parseDuration(opts.since);
      } catch {
        throw new ExitError('--since must be a duration like 7d, 24h or 30m', 2);
      }
      terms.push(formatTerm('started_after', new Date(Date.now() - ms).toISOString()));
    }
    const body = await apiGet<{ group_by: string[]; groups: UsageGroup[] }>(opts, '/usage', {
      q: terms.join(' '),
      group_by: opts.groupBy,
    });
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
      cost_usd: g.cost_usd === null ? null : Number(g.cost_usd.toFixed(6)),
    }));
    printRows(rows, [...body.group_by, ...SUMS], outputOf(opts), body);
  });
}
