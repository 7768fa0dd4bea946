import type { Command } from 'commander';
import type { Config } from '../config/config.ts';
import { CredentialsKeyError } from '../identity/sealing.ts';
import { Users } from '../identity/users.ts';
import { byokOf } from '../providers/api-key.ts';
import { UserKeyError, UserKeys } from '../providers/user-keys.ts';
import type { Store } from '../store/store.ts';
import { CONFIG_FLAG, ExitError, withStore } from './common.ts';

async function userId(store: Store, username: string): Promise<string> {
  const user = await new Users(store).resolve(username);
  if (!user) throw new ExitError(`no user "${username}"`);
  return user._id;
}

function checkProvider(config: Config, provider: string): void {
  const entry = config.providers.find((p) => p.name === provider);
  if (!entry) throw new ExitError(`no providers entry named "${provider}" in the configuration`, 2);
  if (byokOf(entry) === 'off') {
    process.stderr.write(`warning: "${provider}" sets byok: off, so this key is not used until it takes users' keys\n`);
  }
}

/** The whole of stdin, so a key never appears in a command line (ps, shell history). */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('key (then Enter and Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** aibridge provider-keys set|delete|list: users' own provider keys; keys go in, never come out. */
export function providerKeysCommand(program: Command): void {
  const cmd = program
    .command('provider-keys')
    .description("manage users' own keys for providers that take them (byok), sealed with AIBRIDGE_CREDENTIALS_KEY");

  cmd
    .command('set')
    .description("store (replace) USERNAME's own key for PROVIDER, read from stdin")
    .argument('<username>')
    .argument('<provider>')
    .option(...CONFIG_FLAG)
    .action(async (username: string, provider: string, opts: { config?: string }) => {
      await withStore(opts.config, async (store, config) => {
        checkProvider(config, provider);
        const id = await userId(store, username);
        const key = await readStdin();
        try {
          await new UserKeys(store.providerKeys).set(id, provider, key);
        } catch (err) {
          if (err instanceof UserKeyError || err instanceof CredentialsKeyError) throw new ExitError(err.message, 2);
          throw err;
        }
        process.stderr.write(`stored the own key of ${username} for ${provider}\n`);
      });
    });

  cmd
    .command('delete')
    .description("remove USERNAME's own key for PROVIDER")
    .argument('<username>')
    .argument('<provider>')
    .option(...CONFIG_FLAG)
    .action(async (username: string, provider: string, opts: { config?: string }) => {
      await withStore(opts.config, async (store) => {
        const deleted = await new UserKeys(store.providerKeys).delete(await userId(store, username), provider);
        if (!deleted) throw new ExitError(`${username} has no key stored for "${provider}"`);
        process.stderr.write(`deleted the own key of ${username} for ${provider}\n`);
      });
    });

  cmd
    .command('list')
    .description('list stored keys as JSON: user, provider and dates (never keys)')
    .argument('[username]')
    .option(...CONFIG_FLAG)
    .action(async (username: string | undefined, opts: { config?: string }) => {
      const rows = await withStore(opts.config, async (store) => {
        const users = new Users(store);
        const list = await new UserKeys(store.providerKeys).list(username ? await userId(store, username) : undefined);
        const names = new Map<string, string>();
        for (const id of new Set(list.map((k) => k.user_id))) names.set(id, (await users.byId(id))?.username ?? id);
        return list.map((k) => ({
          username: names.get(k.user_id),
          user_id: k.user_id,
          provider: k.provider,
          created_at: k.created_at,
          updated_at: k.updated_at,
        }));
      });
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    });
}
