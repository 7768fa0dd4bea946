import { type Command, Option } from 'commander';
import { ROLES, type Role } from '../identity/users.ts';
import { checkServers, type ServerCheck } from '../mcp/check.ts';
import type { LeftOut } from '../mcp/types.ts';
import { createLogger } from '../observability/logger.ts';
import { CONFIG_FLAG, ExitError, findConfigFile, NO_CONFIG, resolveConfig } from './common.ts';
import { addOutputOptions, outputOf, table } from './output.ts';

const COLUMNS = ['name', 'url', 'state', 'tools', 'left_out', 'roles', 'reason'] as const;

/** Why a server's tools were left out, one line each. */
function leftOutLines(left: LeftOut): string[] {
  const lines: string[] = [];
  if (left.over_max_tools) lines.push(`  left out: ${left.over_max_tools} over mcp.max_tools (all servers together)\n`);
  if (left.over_max_tools_bytes) lines.push(`  left out: ${left.over_max_tools_bytes} over max_tools_bytes\n`);
  if (left.unread) lines.push(`  left out: the rest of its list, unread (${left.unread})\n`);
  const more = left.tools - left.names.length;
  lines.push(...left.names.map((name) => `  - ${name}\n`), ...(more > 0 ? [`  - … and ${more} more\n`] : []));
  return lines;
}

/** The table, then each server's injected names (or why it has none to show), and what was left out. */
function printTable(checks: ServerCheck[], role: Role | undefined): void {
  const rows = checks.map((c) => ({ ...c, left_out: c.left_out?.tools ?? 0, roles: c.roles.join(',') || 'none' }));
  const lines = [table(rows, COLUMNS)];
  for (const c of checks) {
    lines.push(`\n${c.name}:\n`);
    if (c.note) lines.push(`  (${c.note})\n`);
    if (c.allowed === false) lines.push(`  not given to role ${role}\n`);
    else if (c.injected.length) lines.push(...c.injected.map((name) => `  ${name}\n`));
    else lines.push(c.state === 'ready' ? '  no tools after the filters\n' : `  no tools: ${c.state}\n`);
    if (c.left_out && c.allowed !== false) lines.push(...leftOutLines(c.left_out));
  }
  process.stdout.write(lines.join(''));
}

/** aibridge mcp check: the configured MCP servers as the bridge would see them. */
export function mcpCommand(program: Command): void {
  const mcp = program.command('mcp').description('MCP servers as the bridge sees them');
  const check = mcp
    .command('check')
    .description(
      'connect to every configured MCP server as the bridge would and print its state and injected tool names; exit 1 when one is unreachable',
    )
    .option(...CONFIG_FLAG)
    .addOption(new Option('--role <role>', 'show only the tools this role is given').choices(ROLES));
  addOutputOptions(check, ['table', 'json'], 'table').action(
    async (opts: { config?: string; role?: Role; output?: string; format?: string }) => {
      // The defaults have no servers to check: a file is needed, found the way every command finds it.
      const file = findConfigFile(opts.config);
      if (!file) throw new ExitError(NO_CONFIG, 2);
      const config = resolveConfig(file);
      // Proxy log lines go to stderr (and only when asked for): stdout is the report.
      const logger = createLogger({ level: process.env.AIBRIDGE_LOG_LEVEL ?? 'silent', destination: process.stderr });
      const checks = await checkServers(config.mcp_servers, {
        logger,
        role: opts.role,
        maxTools: config.mcp.max_tools,
      });
      if (outputOf(opts) === 'json') process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
      else if (checks.length) printTable(checks, opts.role);
      else process.stdout.write('(no mcp_servers configured)\n');
      const failed = checks.filter((c) => c.state === 'failed');
      if (failed.length) {
        const why = failed.map((c) => `${c.name} (${c.reason})`).join(', ');
        throw new ExitError(`${failed.length} MCP server${failed.length > 1 ? 's' : ''} failed: ${why}`);
      }
    },
  );
}
