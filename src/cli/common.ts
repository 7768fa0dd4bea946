import { existsSync } from 'node:fs';
import type { Config } from '../config/config.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import { Users } from '../identity/users.ts';
import { type OpenedStore, openStore } from '../store/open.ts';

export class ExitError extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

/** The --config option every admin command takes. */
export const CONFIG_FLAG = ['-c, --config <file>', 'configuration file, YAML or JSON (env AIBRIDGE_CONFIG)'] as const;

/** --config, then AIBRIDGE_CONFIG, then ./aibridge.yaml if present, else built-in defaults. */
export function resolveConfig(file: string | undefined): Config {
  const chosen = file ?? process.env.AIBRIDGE_CONFIG ?? (existsSync('aibridge.yaml') ? 'aibridge.yaml' : undefined);
  try {
    return loadConfig(chosen);
  } catch (err) {
    if (err instanceof ConfigError) throw new ExitError(err.message, 2);
    throw err;
  }
}

/** Runs an admin action against the configured (or embedded) database and closes it after. */
export async function withStore<T>(
  configFile: string | undefined,
  action: (store: OpenedStore, config: Config) => Promise<T>,
): Promise<T> {
  const config = resolveConfig(configFile);
  const store = await openStore(config, (line) => process.stderr.write(`${line}\n`));
  try {
    return await action(store, config);
  } finally {
    await store.close();
  }
}

export function withUsers<T>(configFile: string | undefined, action: (users: Users) => Promise<T>): Promise<T> {
  return withStore(configFile, (store) => action(new Users(store.db)));
}
