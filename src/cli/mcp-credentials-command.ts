import type { Command } from 'commander';
import type { Config } from '../config/config.ts';
import { Users } from '../identity/users.ts';
import { McpCredentials, parseHeader } from '../mcp/credentials.ts';
import type { Store } from '../store/store.ts';
import { CONFIG_FLAG, ExitError, withStore } from './common.ts';

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

async function userId(store: Store, username: string): Promise<string> {
  const user = await new Users(store).resolve(username);
  if (!user) throw new ExitError(`no user "${username}"`);
  return user._id;
}

function checkServer(config: Config, server: string): void {
  const entry = config.mcp_servers.find((s) => s.name === server);
  if (!entry) throw new ExitError(`no mcp_servers entry named "${server}" in the configuration`, 2);
  if (!entry.per_user_credentials) {
    process.stderr.write(`warning: "${server}" does not set per_user_credentials, so these headers are not used yet\n`);
  }
}

/** aibridge mcp-credentials set|delete|list: per-user MCP headers; values go in, never come out. */
export function mcpCredentialsCommand(program: Command): void {
  const cmd = program.command('mcp-credentials').description("manage users' own headers for per-user MCP servers");

  cmd
    .command('set')
    .description('store (replace) the headers USERNAME sends to SERVER, encrypted with AIBRIDGE_CREDENTIALS_KEY')
    .argument('<username>')
    .argument('<server>')
    .option('-H, --header <"Name: value">', 'a header to send (repeatable, at least one)', collect)
    .option(...CONFIG_FLAG)
    .action(async (username: string, server: string, opts: { header?: string[]; config?: string }) => {
      if (!opts.header?.length) throw new ExitError('give at least one --header "Name: value"', 2);
      const headers: Record<string, string> = {};
      for (const line of opts.header) {
        try {
          const [name, value] = parseHeader(line);
          headers[name] = value;
        } catch (err) {
          throw new ExitError(`--header: ${(err as Error).message}`, 2);
        }
      }
      await withStore(opts.config, async (store, config) => {
        checkServer(config, server);
        const id = await userId(store, username);
        await new McpCredentials(store.credentials).set(id, server, headers);
        process.stderr.write(`stored ${Object.keys(headers).join(', ')} for ${username} on ${server}\n`);
      });
    });

  cmd
    .command('delete')
    .description("remove USERNAME's headers for SERVER")
    .argument('<username>')
    .argument('<server>')
    .option(...CONFIG_FLAG)
    .action(async (username: string, server: string, opts: { config?: string }) => {
      await withStore(opts.config, async (store) => {
        const deleted = await new McpCredentials(store.credentials).delete(await userId(store, username), server);
        if (!deleted) throw new ExitError(`${username} has no credentials for "${server}"`);
        process.stderr.write(`deleted the credentials of ${username} for ${server}\n`);
      });
    });

  cmd
    .command('list')
    .description('list stored credentials as JSON: user, server, header names and dates (never values)')
    .argument('[username]')
    .option(...CONFIG_FLAG)
    .action(async (username: string | undefined, opts: { config?: string }) => {
      const rows = await withStore(opts.config, async (store) => {
        const users = new Users(store);
        const list = await new McpCredentials(store.credentials).list(
          username ? await userId(store, username) : undefined,
        );
        const names = new Map<string, string>();
        for (const id of new Set(list.map((c) => c.user_id))) names.set(id, (await users.byId(id))?.username ?? id);
        return list.map((c) => ({
          username: names.get(c.user_id),
          user_id: c.user_id,
          server: c.server,
          headers: c.header_names,
          created_at: c.created_at,
          updated_at: c.updated_at,
        }));
      });
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    });
}
