import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Config } from '../../src/config/config.ts';
import { loadConfig, validateConfig } from '../../src/config/load.ts';
import type { Role } from '../../src/identity/users.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { type RunningServer, startServer } from '../../src/server/start.ts';
import type { Store } from '../../src/store/store.ts';

/** Collects log lines so tests can assert on what was (and was not) logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.lines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  }
  get text() {
    return this.lines.join('\n');
  }
}

export interface TestBridge extends RunningServer {
  logs: LogCapture;
  /** Creates a user and returns a fresh token for it. */
  user(username: string, role?: Role): Promise<{ id: string; token: string; apiKeyId: string }>;
}

/** Starts the real server on an ephemeral port against the given store, with config overrides. */
export function startTestBridge(store: Store, overrides: Record<string, unknown> = {}): Promise<TestBridge> {
  const config = validateConfig(
    { listen: '127.0.0.1:0', data_dir: mkdtempSync(join(tmpdir(), 'aibridge-bridge-')), retention: 0, ...overrides },
    'test',
    {},
  );
  return launch(store, config);
}

/** Starts the real server from a config file, as `aibridge server --config FILE` does: reload() re-reads it. */
export function startFileBridge(store: Store, file: string): Promise<TestBridge> {
  return launch(store, loadConfig(file), file);
}

async function launch(store: Store, config: Config, configFile?: string): Promise<TestBridge> {
  const logs = new LogCapture();
  const logger = createLogger({ level: 'debug', destination: logs });
  const server = await startServer(config, {
    logger,
    store: { ...store, close: async () => {} },
    drainMs: 2_000,
    configFile,
  });
  return {
    ...server,
    logs,
    async user(username, role = 'member') {
      const user = (await server.ctx.users.byUsername(username)) ?? (await server.ctx.users.create(username, { role }));
      const { token, apiKeyId } = await server.ctx.users.createToken(user._id, { name: 'test' });
      return { id: user._id, token, apiKeyId };
    },
  };
}
