import type { Command } from 'commander';
import { describeBudget } from '../budgets/scope.ts';
import { Teams } from '../identity/teams.ts';
import { IdentityError, Users } from '../identity/users.ts';
import type { Store } from '../store/store.ts';
import { budgetArgument } from './budget-argument.ts';
import { CONFIG_FLAG, ExitError, withStore } from './common.ts';
import { addOutputOptions, outputOf, printRows } from './output.ts';

type Opts = { config?: string; output?: string; format?: string };

/** Runs a team change against the store; refusals an admin can act on exit 1 with their message. */
function change<T>(opts: Opts, action: (teams: Teams, users: Users, store: Store) => Promise<T>): Promise<T> {
  return withStore(opts.config, (store) => action(new Teams(store), new Users(store), store)).catch((err) => {
    if (err instanceof IdentityError) throw new ExitError(err.message);
    throw err;
  });
}

const TEAM_COLUMNS = ['name', 'members', 'budget', 'sso', 'created_at', 'id'];

/**
 * aibridge teams … (README "Teams"): they talk to the store directly, as the other admin commands
 * do. A team single sign-on manages takes no `add` or `remove`: its members follow their groups.
 */
export function teamCommands(program: Command): void {
  const teams = program.command('teams').description('manage teams: shared budgets, auditor scopes');

  teams
    .command('create')
    .description('create a team')
    .argument('<name>')
    .option(...CONFIG_FLAG)
    .action(async (name: string, opts: Opts) => {
      const team = await change(opts, (t) => t.create(name));
      process.stderr.write(`created team ${team.name} (${team._id})\n`);
    });

  addOutputOptions(
    teams
      .command('list')
      .description('list teams with their members (a table; -o json for JSON)')
      .option(...CONFIG_FLAG),
    ['table', 'json', 'csv'],
    'table',
  ).action(async (opts: Opts) => {
    const rows = await change(opts, async (t, _u, store) => {
      const list = await t.list();
      const members = await store.teams.members({ team_ids: list.map((team) => team._id) });
      const users = new Map((await store.identity.users({ includeDeleted: true })).map((u) => [u._id, u.username]));
      return list.map((team) => {
        const names = members
          .filter((m) => m.team_id === team._id)
          .map((m) => users.get(m.user_id) ?? m.user_id)
          .sort();
        return {
          id: team._id,
          name: team.name,
          members: names.join(' '),
          member_list: names,
          budget: team.budget ? describeBudget(team.budget) : null,
          budget_usd: team.budget,
          sso: team.sso ? 'yes' : 'no',
          created_at: team.created_at.toISOString(),
        };
      });
    });
    printRows(
      rows,
      TEAM_COLUMNS,
      outputOf(opts),
      rows.map(({ id, name, member_list, budget_usd, sso, created_at }) => ({
        id,
        name,
        members: member_list,
        budget: budget_usd,
        sso: sso === 'yes',
        created_at,
      })),
    );
  });

  for (const [name, verb] of [
    ['add', 'add users to a team'],
    ['remove', 'remove users from a team'],
  ] as const) {
    teams
      .command(name)
      .description(verb)
      .argument('<team>')
      .argument('<usernames...>')
      .option(...CONFIG_FLAG)
      .action(async (teamName: string, usernames: string[], opts: Opts) => {
        const lines = await change(opts, async (t, users) => {
          const team = await t.require(teamName);
          const said: string[] = [];
          for (const username of usernames) {
            const user = await users.require(username);
            const changed = name === 'add' ? await t.add(team, user._id) : await t.remove(team, user._id);
            said.push(
              name === 'add'
                ? changed
                  ? `${user.username} added to ${team.name}`
                  : `${user.username} was already in ${team.name}`
                : changed
                  ? `${user.username} removed from ${team.name}`
                  : `${user.username} was not in ${team.name}`,
            );
          }
          return said;
        });
        process.stderr.write(`${lines.join('\n')}\n`);
      });
  }

  teams
    .command('delete')
    .description('delete a team: its members stay, their records too')
    .argument('<team>')
    .option(...CONFIG_FLAG)
    .action(async (teamName: string, opts: Opts) => {
      const team = await change(opts, (t) => t.delete(teamName));
      process.stderr.write(`deleted team ${team.name}\n`);
    });

  teams
    .command('set-budget')
    .description(
      'set a team’s budget in USD per period, shared by its members (0: no spend; "none": budgets.team applies)',
    )
    .argument('<team>')
    .argument('<usd>')
    .option('--period <period>', 'day|week|month', 'month')
    .option(...CONFIG_FLAG)
    .action(async (teamName: string, usd: string, opts: Opts & { period: string }) => {
      const budget = budgetArgument(usd, opts.period);
      const team = await change(opts, (t) => t.setBudget(teamName, budget));
      process.stderr.write(
        budget ? `${team.name}: budget ${describeBudget(budget)}\n` : `${team.name}: own budget removed\n`,
      );
    });
}
