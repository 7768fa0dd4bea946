import type { Command } from 'commander';
import { describeBudget } from '../budgets/scope.ts';
import { Teams } from '../identity/teams.ts';
import { IdentityError, ROLES, type Role, Users } from '../identity/users.ts';
import { parseExpiry, presentToken, presentUser, teamNames } from '../server/api/users/index.ts';
import { BUDGET_PERIODS, type Store } from '../store/store.ts';
import { budgetArgument } from './budget-argument.ts';
import { CONFIG_FLAG, ExitError, withStore, withUsers } from './common.ts';
import { addOutputOptions, outputOf, printRows } from './output.ts';

type Opts = { config?: string; output?: string; format?: string };

/** Runs an identity change; refusals an admin can act on exit 1 with their message. */
function change<T>(opts: Opts, action: (users: Users) => Promise<T>): Promise<T> {
  return withUsers(opts.config, action).catch((err) => {
    if (err instanceof IdentityError) throw new ExitError(err.message);
    throw err;
  });
}

/** The same, with the store itself at hand (teams). */
function changeStore<T>(opts: Opts, action: (users: Users, store: Store) => Promise<T>): Promise<T> {
  return withStore(opts.config, (store) => action(new Users(store), store)).catch((err) => {
    if (err instanceof IdentityError) throw new ExitError(err.message);
    throw err;
  });
}

function role(value: string): Role {
  if (!ROLES.includes(value as Role)) throw new ExitError(`role must be one of ${ROLES.join(', ')}`, 2);
  return value as Role;
}

const USER_COLUMNS = ['username', 'name', 'role', 'status', 'budget', 'teams', 'created_at', 'id'];
const TOKEN_COLUMNS = ['id', 'username', 'kind', 'name', 'created_at', 'last_used_at', 'expires_at', 'status'];

/** `--teams a,b`: the teams an auditor is limited to, checked; `all` (or empty): none, everyone's records. */
async function auditTeams(store: Store, value: string): Promise<string[]> {
  const names =
    value === 'all'
      ? []
      : value
          .split(',')
          .map((n) => n.trim())
          .filter(Boolean);
  const teams = new Teams(store);
  const ids: string[] = [];
  for (const name of names) ids.push((await teams.require(name))._id);
  return [...new Set(ids)];
}

const TEAMS_FLAG = [
  '--teams <a,b>',
  'an auditor sees only the records of these teams’ members (and their own); "all": everyone’s',
] as const;

function tokenStatus(t: ReturnType<typeof presentToken>): string {
  if (t.revoked_at) return 'revoked';
  if (t.expires_at && Date.parse(t.expires_at) <= Date.now()) return 'expired';
  return 'active';
}

/** aibridge users … and aibridge tokens … (README "From the command line"): they talk to the store directly. */
export function identityCommands(program: Command): void {
  const users = program.command('users').description('manage users');

  users
    .command('create')
    .description('create a user and print their first token as the last line')
    .argument(
      '<username>',
      '1-64 letters, digits, ".", "_" or "-"; unique regardless of case; not "me" or shaped like a user id',
    )
    .option('--name <name>', 'display name (default: the username)')
    .option('--role <role>', `one of ${ROLES.join(', ')}`, 'member')
    .option(...TEAMS_FLAG)
    .option(...CONFIG_FLAG)
    .action(async (username: string, opts: Opts & { name?: string; role: string; teams?: string }) => {
      const wanted = role(opts.role);
      if (opts.teams !== undefined && wanted !== 'auditor') throw new ExitError('--teams is for auditors', 2);
      const token = await changeStore(opts, async (store, raw) => {
        const scope = opts.teams === undefined ? [] : await auditTeams(raw, opts.teams);
        const user = await store.create(username, { name: opts.name, role: wanted });
        if (scope.length) await raw.identity.updateUser(user._id, { audit_teams: scope });
        process.stderr.write(`created ${user.role} ${user.username} (${user._id}); the token below is shown once:\n`);
        return (await store.createToken(user._id, { name: 'first token' })).token;
      });
      process.stdout.write(`${token}\n`);
    });

  addOutputOptions(
    users
      .command('list')
      .description('list users (a table; -o json for JSON)')
      .option('--deleted', 'also list deleted users (status deleted)')
      .option('--all', 'same as --deleted')
      .option(...CONFIG_FLAG),
    ['table', 'json', 'csv'],
    'table',
  ).action(async (opts: Opts & { all?: boolean; deleted?: boolean }) => {
    const includeDeleted = Boolean(opts.deleted || opts.all);
    const list = await changeStore(opts, async (users, store) => {
      const names = await teamNames({ store });
      return (await users.list({ includeDeleted })).map((u) => presentUser(u, names));
    });
    const rows = list.map((u) => ({
      ...u,
      status: u.deleted ? 'deleted' : u.disabled ? 'disabled' : 'active',
      budget: u.budget ? describeBudget(u.budget) : null,
      teams: u.teams?.join(' ') || null,
    }));
    printRows(rows, USER_COLUMNS, outputOf(opts), list);
  });

  const simple = (name: string, description: string, act: (users: Users, username: string) => Promise<string>) =>
    users
      .command(name)
      .description(description)
      .argument('<username>')
      .option(...CONFIG_FLAG)
      .action(async (username: string, opts: Opts) => {
        process.stderr.write(`${await change(opts, (store) => act(store, username))}\n`);
      });
  // The last enabled owner cannot be disabled, demoted or deleted (exit 1): someone must be able to undo it.
  simple(
    'disable',
    'refuse all of a user’s tokens until enabled again (never the last enabled owner)',
    async (s, u) => {
      await s.disable(u);
      return `disabled ${u}; their tokens are refused within 5 s on every replica`;
    },
  );
  simple('enable', 'let a disabled user in again', async (s, u) => {
    await s.enable(u);
    return `enabled ${u}`;
  });
  simple(
    'delete',
    'delete a user: tokens revoked, MCP credentials removed; their records stay (never the last enabled owner)',
    async (s, u) => {
      await s.delete(u);
      return `deleted ${u}; their records stay, their username stays reserved`;
    },
  );

  users
    .command('set-role')
    .description('change a user’s role (the last enabled owner stays one)')
    .argument('<username>')
    .argument('<role>', ROLES.join('|'))
    .option(...TEAMS_FLAG)
    .option(...CONFIG_FLAG)
    .action(async (username: string, value: string, opts: Opts & { teams?: string }) => {
      const wanted = role(value);
      if (opts.teams !== undefined && wanted !== 'auditor') throw new ExitError('--teams is for auditors', 2);
      const scope = await changeStore(opts, async (s, store) => {
        const teams = opts.teams === undefined ? undefined : await auditTeams(store, opts.teams);
        const user = await s.setRole(username, wanted);
        if (teams !== undefined) await store.identity.updateUser(user._id, { audit_teams: teams });
        return teams;
      });
      const limited = scope === undefined ? '' : scope.length ? ` of ${opts.teams}` : ' of every team';
      process.stderr.write(`${username} is now ${wanted}${limited}\n`);
    });

  users
    .command('set-budget')
    .description('set a user’s own budget in USD per period: 0 allows no spend; "none" returns to the role default')
    .argument('<username>')
    .argument('<usd>', 'USD per period (0: no spend), or none')
    .option('--period <period>', BUDGET_PERIODS.join('|'), 'month')
    .option(...CONFIG_FLAG)
    .action(async (username: string, usd: string, opts: Opts & { period: string }) => {
      const budget = budgetArgument(usd, opts.period);
      await change(opts, (s) => s.setBudget(username, budget));
      process.stderr.write(
        budget === null
          ? `${username}: own budget removed; the role's default applies\n`
          : `${username}: budget ${describeBudget(budget)}${budget.usd === 0 ? ': no spend allowed' : ''}\n`,
      );
    });

  const tokens = program.command('tokens').description('manage session tokens');

  tokens
    .command('create')
    .description('issue a new token for a user and print it as the last line')
    .argument('<username>')
    .option('--name <name>', 'what the token is for, e.g. "laptop"')
    .option('--expires <when>', 'a duration (30d, 12h) or an RFC 3339 time')
    .option(...CONFIG_FLAG)
    .action(async (username: string, opts: Opts & { name?: string; expires?: string }) => {
      let expiresAt: Date | null;
      try {
        expiresAt = parseExpiry(opts.expires);
      } catch {
        throw new ExitError('--expires must be a duration like 30d or a future RFC 3339 time', 2);
      }
      const token = await change(opts, async (store) => {
        const user = await store.require(username);
        const issued = await store.createToken(user._id, { name: opts.name ?? '', expiresAt });
        const until = expiresAt ? `, expires ${expiresAt.toISOString()}` : '';
        process.stderr.write(`new token ${issued.apiKeyId} for ${user.username}${until}; shown once:\n`);
        return issued.token;
      });
      process.stdout.write(`${token}\n`);
    });

  addOutputOptions(
    tokens
      .command('list')
      .description(
        'list tokens and live console sessions (id, kind, name, created, last used, expires — never the secret)',
      )
      .argument('[username]')
      .option(...CONFIG_FLAG),
    ['table', 'json', 'csv'],
    'table',
  ).action(async (username: string | undefined, opts: Opts) => {
    const rows = await change(opts, async (store) => {
      const owner = username ? await store.require(username) : undefined;
      const keys = await store.tokens(owner?._id);
      const names = new Map((await store.list({ includeDeleted: true })).map((u) => [u._id, u.username]));
      return keys.map((k) => {
        const t = presentToken(k);
        return { ...t, username: names.get(k.user_id) ?? k.user_id, status: tokenStatus(t) };
      });
    });
    printRows(rows, TOKEN_COLUMNS, outputOf(opts));
  });

  tokens
    .command('revoke')
    .description('revoke a token or end a console session, by id: refused within 5 s on every replica')
    .argument('<id>')
    .option(...CONFIG_FLAG)
    .action(async (id: string, opts: Opts) => {
      await change(opts, async (store) => {
        if (!(await store.token(id))) throw new ExitError(`no token "${id}"`);
        if (!(await store.revokeToken(id))) throw new ExitError(`token ${id} was already revoked`);
      });
      process.stderr.write(`revoked ${id}\n`);
    });
}
