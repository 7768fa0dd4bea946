import { existsSync } from 'node:fs';
import type { Config } from '../config/config.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import { Users } from '../identity/users.ts';
import { embeddedStorePath } from '../paths.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';

export class ExitError extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

/** The --config option every admin command takes. */
export const CONFIG_FLAG = ['-c, --config <file>', 'configuration file, YAML or JSON (env AIBRIDGE_CONFIG)'] as const;

export const NO_CONFIG = 'no configuration found: pass --config FILE, set AIBRIDGE_CONFIG or create ./aibridge.yaml';

/** The one discovery order for every command: --config, then AIBRIDGE_CONFIG, then ./aibridge.yaml if present. */
export function findConfigFile(file: string | undefined): string | undefined {
  return file || process.env.AIBRIDGE_CONFIG || (existsSync('aibridge.yaml') ? 'aibridge.yaml' : undefined);
}

function load(file: string | undefined): Config {
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new ExitError(err.message, 2);
    throw err;
  }
}

/** The server's configuration: the file found, else built-in defaults (a first run). */
export function resolveConfig(file: string | undefined): Config {
  return load(findConfigFile(file));
}

/**
 * An admin command's configuration. Without a file it goes on only if the defaults name a
 * store that already exists (AIBRIDGE_MONGODB_URI, or the embedded file in ./.data): an admin
 * command run in the wrong directory must not quietly create an empty database.
 */
export function resolveAdminConfig(file: string | undefined): Config {
  const found = findConfigFile(file);
  const config = load(found);
  if (!found && !config.mongodb.uri && !existsSync(embeddedStorePath(config.data_dir))) {
    throw new ExitError(NO_CONFIG, 2);
  }
  return config;
}

/** Runs an admin action against the configured store (the embedded one, opened in this process) and closes it after. */
export async function withStore<T>(
  configFile: string | undefined,
  action: (store: Store, config: Config) => Promise<T>,
): Promise<T> {
  const config = resolveAdminConfig(configFile);
  const store = await openStore(config, 'admin');
  try {
    return await action(store, config);
  } finally {
    await store.close();
  }
}

export function withUsers<T>(configFile: string | undefined, action: (users: Users) => Promise<T>): Promise<T> {
  return withStore(configFile, (store) => action(new Users(store)));
}
