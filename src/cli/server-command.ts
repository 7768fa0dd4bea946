import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { type Command, InvalidArgumentError } from 'commander';
import type { Config, ProviderConfig } from '../config/config.ts';
import { kindOf } from '../providers/registry.ts';
import { CONFIG_FLAG, findConfigFile, resolveConfig } from './common.ts';
import { writeServerRecord } from './server-record.ts';

/**
 * The first start's owner token and how to point each configured provider's clients at the
 * bridge: from the providers in the config (their names are the routes), never a guessed one.
 */
export function clientSetup(url: string, token: string, providers: readonly ProviderConfig[]): string {
  const lines = [
    '',
    `AI Bridge is listening on ${url}.`,
    'It created the owner "admin". Its token is shown only this once:',
    '',
    `  ${token}`,
    '',
  ];
  for (const provider of providers) lines.push(...(kindOf(provider.type).clientSetup?.(url, provider, token) ?? []));
  if (!providers.length) {
    lines.push('No provider is configured yet: add one under providers: (see README "Configuration").');
  }
  for (const [family, clients] of [
    ['anthropic', 'Claude Code'],
    ['openai', 'Codex'],
  ] as const) {
    if (providers.length && !providers.some((p) => kindOf(p.type).family === family)) {
      lines.push(
        `No ${family === 'anthropic' ? 'Anthropic-style' : 'OpenAI-style'} provider is configured: ${clients} has none to use.`,
      );
    }
  }
  lines.push('');
  return lines.join('\n');
}

/**
 * Leaves data_dir/server.json (README "Finding the configuration"): commands run in the same
 * directory then find this configuration and URL. Not being able to write it costs only that.
 */
function recordServer(
  config: Config,
  configFlag: string | undefined,
  url: string,
  logger?: { warn(fields: object, message: string): void },
): void {
  try {
    writeServerRecord(config.data_dir, {
      config: findConfigFile(configFlag, { server: true }) ?? null,
      url,
      pid: process.pid,
    });
  } catch (err) {
    logger?.warn(
      { err: (err as Error).message },
      'cannot write data_dir/server.json; commands here will not find this server',
    );
  }
}

/** `--workers`: a count, or `auto` for one per CPU the process may use. */
function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError('a count of 1 or more, or auto');
  return count;
}

interface ServerOptions {
  config?: string;
  listen?: string;
  trace?: boolean;
  traceLogs?: boolean;
  workers?: number;
}

export function serverCommand(program: Command): void {
  program
    .command('server')
    .description('run the bridge')
    .option(...CONFIG_FLAG)
    .option('--listen <host:port>', 'listen address (env AIBRIDGE_LISTEN)')
    .option('--trace', 'export OpenTelemetry traces (env AIBRIDGE_TRACE_ENABLE)')
    .option('--trace-logs', 'add log lines to spans as events (env AIBRIDGE_TRACE_LOGS)')
    .option(
      '--workers <n>',
      'processes serving the one port: a count, or auto (one per CPU); default 1 (env AIBRIDGE_WORKERS)',
      parseWorkers,
    )
    .action(async (opts: ServerOptions) => {
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
      const workers = opts.workers ?? (process.env.AIBRIDGE_WORKERS ? parseWorkers(process.env.AIBRIDGE_WORKERS) : 1);
      // The primary only forwards SIGHUP; each worker reloads, and one starting reads the file as it is.
      if (cluster.isPrimary && workers > 1) process.exit(await primary(config, workers, opts.config));
      await serve(config, opts.config, (reload) => {
        onHangup = reload;
        if (hungUp) onHangup();
      });
    });
}

/** The `--workers` primary: forks and supervises; it serves nothing itself. */
async function primary(config: Config, workers: number, configFlag: string | undefined): Promise<number> {
  const { runPrimary } = await import('../server/cluster/primary.ts');
  const { createLogger } = await import('../observability/logger.ts');
  const logger = createLogger().child({ component: 'primary' });
  try {
    return await runPrimary({
      config,
      workers,
      logger,
      onReady(url, bootstrap) {
        recordServer(config, configFlag, url);
        if (bootstrap) process.stderr.write(clientSetup(url, bootstrap.token, config.providers));
      },
    });
  } catch (err) {
    process.stderr.write(`aibridge: ${(err as Error).message.split('\n')[0]}\n`);
    return 1;
  }
}

/** One serving process: the whole bridge, or one worker of `--workers`. */
async function serve(config: Config, configFlag: string | undefined, onReload: (reload: () => void) => void) {
  // Loaded on demand so admin commands start fast.
  const { startServer } = await import('../server/start.ts');
  const { installCrashPolicy } = await import('../server/crash-policy.ts');
  const { workerIdentity, reportListening } = await import('../server/cluster/worker-channel.ts');
  const { createLogger } = await import('../observability/logger.ts');
  const worker = workerIdentity();
  const logger = worker ? createLogger().child({ worker: worker.id }) : undefined;
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, { configFile: findConfigFile(configFlag, { server: true }), worker, logger });
  } catch (err) {
    // One clear line, and out: nothing opened for the failed start may keep the process alive.
    process.stderr.write(`aibridge: ${(err as Error).message.split('\n')[0]}\n`);
    process.exit(1);
  }
  server.ctx.logger.info({ url: server.url }, 'aibridge listening');
  if (!worker) recordServer(config, configFlag, server.url, server.ctx.logger);
  onReload(() => void server.reload('SIGHUP'));
  if (worker) reportListening(server.url);
  else if (server.bootstrap) process.stderr.write(clientSetup(server.url, server.bootstrap.token, config.providers));
  let signals = 0;
  const stop = (reason: string, code = 0) => {
    // A second signal means now; a worker leaves that to its primary, which may pass a signal on twice.
    if (++signals > 1) {
      if (!worker) process.exit(130);
      return;
    }
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
}
