import type { Command } from 'commander';
import { CONFIG_FLAG, findConfigFile, resolveConfig } from './common.ts';

function clientSetup(url: string, token: string): string {
  return [
    '',
    'AI Bridge created the owner "admin". Its token is shown only this once:',
    '',
    `  ${token}`,
    '',
    'Claude Code:',
    `  export ANTHROPIC_BASE_URL=${url}/anthropic`,
    `  export ANTHROPIC_AUTH_TOKEN=${token}`,
    'Codex / OpenAI SDKs:',
    `  export OPENAI_BASE_URL=${url}/openai/v1`,
    `  export OPENAI_API_KEY=${token}`,
    '',
  ].join('\n');
}

export function serverCommand(program: Command): void {
  program
    .command('server')
    .description('run the bridge')
    .option(...CONFIG_FLAG)
    .option('--listen <host:port>', 'listen address (env AIBRIDGE_LISTEN)')
    .option('--trace', 'export OpenTelemetry traces (env AIBRIDGE_TRACE_ENABLE)')
    .option('--trace-logs', 'add log lines to spans as events (env AIBRIDGE_TRACE_LOGS)')
    .action(async (opts: { config?: string; listen?: string; trace?: boolean; traceLogs?: boolean }) => {
      if (opts.listen) process.env.AIBRIDGE_LISTEN = opts.listen;
      if (opts.trace) process.env.AIBRIDGE_TRACE_ENABLE = 'true';
      if (opts.traceLogs) process.env.AIBRIDGE_TRACE_LOGS = 'true';
      // Unhandled, SIGHUP ends the process: one arriving during start-up is remembered and applied after it.
      let hungUp = false;
      let onHangup = () => {
        hungUp = true;
      };
      process.on('SIGHUP', () => onHangup());
      const config = resolveConfig(opts.config);
      // Loaded on demand so admin commands start fast.
      const { startServer } = await import('../server/start.ts');
      const { installCrashPolicy } = await import('../server/crash-policy.ts');
      let server: Awaited<ReturnType<typeof startServer>>;
      try {
        server = await startServer(config, { configFile: findConfigFile(opts.config) });
      } catch (err) {
        // One clear line, and out: nothing opened for the failed start may keep the process alive.
        process.stderr.write(`aibridge: ${(err as Error).message.split('\n')[0]}\n`);
        process.exit(1);
      }
      server.ctx.logger.info({ url: server.url }, 'aibridge listening');
      onHangup = () => void server.reload('SIGHUP');
      if (hungUp) onHangup();
      if (server.bootstrap) process.stderr.write(clientSetup(server.url, server.bootstrap.token));
      let signals = 0;
      const stop = (reason: string, code = 0) => {
        if (++signals > 1) process.exit(130); // a second Ctrl-C means now
        server.ctx.logger.info({ reason }, 'shutting down');
        server.close().then(
          () => process.exit(code),
          (err) => {
            server.ctx.logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      installCrashPolicy(server.ctx.logger, () => {
        setTimeout(() => process.exit(1), 10_000).unref(); // a wedged shutdown must not keep a broken process
        stop('uncaught exception', 1);
      });
    });
}
