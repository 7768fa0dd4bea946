import type { Command } from 'commander';
import { ROLES, type Role } from '../identity/users.ts';
import { CONFIG_FLAG, ExitError, withUsers } from './common.ts';

export function identityCommands(program: Command): void {
  const users = program.command('users').description('manage users');
  users
    .command('create')
    .description('create a user and print their first token as the last line')
    .argument('<username>')
    .option('--name <name>', 'display name (default: the username)')
    .option('--role <role>', `one of ${ROLES.join(', ')}`, 'member')
    .option(...CONFIG_FLAG)
    .action(async (username: string, opts: { name?: string; role: string; config?: string }) => {
      if (!ROLES.includes(opts.role as Role)) throw new ExitError(`--role must be one of ${ROLES.join(', ')}`, 2);
      const token = await withUsers(opts.config, async (store) => {
        const user = await store.create(username, { name: opts.name, role: opts.role as Role });
        process.stderr.write(`created ${user.role} ${user.username} (${user._id}); the token below is shown once:\n`);
        return (await store.createToken(user._id)).token;
      });
      process.stdout.write(`${token}\n`);
    });
  users
    .command('list')
    .description('list users as JSON')
    .option(...CONFIG_FLAG)
    .action(async (opts: { config?: string }) => {
      const list = await withUsers(opts.config, (store) => store.list());
      const shown = list.map((u) => ({
        id: u._id,
        username: u.username,
        name: u.name,
        role: u.role,
        created_at: u.created_at,
      }));
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    });

  program
    .command('tokens')
    .description('manage session tokens')
    .command('create')
    .description('issue a new token for a user and print it as the last line')
    .argument('<username>')
    .option(...CONFIG_FLAG)
    .action(async (username: string, opts: { config?: string }) => {
      const token = await withUsers(opts.config, async (store) => {
        const user = await store.resolve(username);
        if (!user) throw new ExitError(`no user "${username}"`);
        const issued = await store.createToken(user._id);
        process.stderr.write(`new token ${issued.apiKeyId} for ${user.username}; shown once:\n`);
        return issued.token;
      });
      process.stdout.write(`${token}\n`);
    });
}
