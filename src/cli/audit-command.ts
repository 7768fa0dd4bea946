import type { Command } from 'commander';
import { parseRfc3339 } from '../audit/query.ts';
import { verifyAll } from '../audit/verify.ts';
import { parseDuration } from '../duration.ts';
import { CONFIG_FLAG, ExitError, withStore } from './common.ts';
import { addOutputOptions, outputOf, printRows } from './output.ts';

type Options = { config?: string; since?: string; output?: string; format?: string };

/** `--since`: an RFC 3339 time, or a duration back from now (7d, 24h). */
export function sinceOf(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  try {
    return new Date(Date.now() - parseDuration(text));
  } catch {}
  const at = parseRfc3339(text);
  if (!at) throw new ExitError('--since must be an RFC 3339 time or a duration like 7d', 2);
  return at;
}

/** aibridge audit verify: the tamper-evident chain recomputed from the store (README "Tamper evidence"). */
export function auditCommand(program: Command): void {
  const audit = program.command('audit').description('check the audit records');
  const verify = audit
    .command('verify')
    .description('recompute the hash chain of every record and name the first one changed, removed or inserted')
    .option('--since <time>', 'only from the first interceptions started at or after this time (RFC 3339, or 7d)')
    .option(...CONFIG_FLAG);
  addOutputOptions(verify, ['table', 'json'], 'table').action(async (opts: Options) => {
    const since = sinceOf(opts.since);
    let shownAt = Date.now();
    const result = await withStore(opts.config, (store) =>
      verifyAll(store.chain, {
        since,
        progress(chain, seq, checked) {
          if (Date.now() - shownAt < 1_000) return;
          shownAt = Date.now();
          process.stderr.write(`chain ${chain}: step ${seq}, ${checked} steps verified\n`);
        },
      }),
    );
    const rows = result.chains.map((c) => ({
      chain: c.chain,
      writer: `${c.writer.store} ${c.writer.host}:${c.writer.pid}`,
      started_at: c.started_at,
      anchor: c.anchor_seq,
      head: c.head.seq,
      hash: c.head.hash,
    }));
    printRows(rows, ['chain', 'writer', 'started_at', 'anchor', 'head', 'hash'], outputOf(opts), {
      ok: result.problem === null,
      checked: result.checked,
      problem: result.problem,
      chains: result.chains,
    });
    if (result.problem) throw new ExitError(`${result.problem.kind}: ${result.problem.detail}`, 1);
    process.stderr.write(`ok: ${result.checked} steps in ${result.chains.length} chain(s) verified\n`);
  });
}
