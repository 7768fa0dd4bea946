import { Command, CommanderError } from 'commander';
import { auditCommand } from './cli/audit-command.ts';
import { ExitError } from './cli/common.ts';
import { identityCommands } from './cli/identity-commands.ts';
import { interceptionsCommand } from './cli/interceptions-command.ts';
import { loginCommand } from './cli/login-command.ts';
import { mcpCommand } from './cli/mcp-command.ts';
import { mcpCredentialsCommand } from './cli/mcp-credentials-command.ts';
import { migrateCommand } from './cli/migrate-command.ts';
import { providerKeysCommand } from './cli/provider-keys-command.ts';
import { proxyCommand } from './cli/proxy-command.ts';
import { serverCommand } from './cli/server-command.ts';
import { teamCommands } from './cli/team-commands.ts';
import { usageCommand } from './cli/usage-command.ts';
import { packageVersion } from './paths.ts';

const program = new Command('aibridge')
  .description('AI Bridge: an auditing, tool-injecting gateway for coding agents')
  .version(packageVersion(), '-V, --version', 'print the version')
  .showHelpAfterError()
  .exitOverride();

serverCommand(program);
identityCommands(program);
teamCommands(program);
loginCommand(program);
interceptionsCommand(program);
mcpCredentialsCommand(program);
providerKeysCommand(program);
mcpCommand(program);
usageCommand(program);
migrateCommand(program);
proxyCommand(program);
auditCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`aibridge: ${(err as Error).message}\n`);
    // A failed command ends here, even if a connection it opened is still being torn down.
    process.exit(err instanceof ExitError ? err.code : 1);
  }
}
