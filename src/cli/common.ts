import { existsSync } from 'node:fs';
import type { Config } from '../config/config.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import { Users } from '../identity/users.ts';
import { embeddedStorePath } from '../paths.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import { readServerRecord } from './server-record.ts';

export class ExitError extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

/** The --config option every command that reads the configuration takes. */
export const CONFIG_FLAG = ['-c, --config <file>', 'configuration file, YAML or JSON (env AIBRIDGE_CONFIG)'] as const;

export const NO_CONFIG =
  'no configuration found: pass --config FILE, set AIBRIDGE_CONFIG, create ./aibridge.yaml, or run where the bridge runs (./.data/server.json)';

/** Where a command's configuration came from (README "Finding the configuration"). */
export type ConfigSource = 'flag' | 'env' | 'cwd' | 'server' | 'defaults';

export interface FoundConfig {
  file: string | undefined;
  source: ConfigSource;
}

/**
 * The one discovery order (README "Finding the configuration"): --config, then AIBRIDGE_CONFIG,
 * then ./aibridge.yaml, then the file a bridge running here uses (./.data/server.json, which it
 * writes at start), else the built-in defaults. `server` itself stops before the running one.
 */
export function findConfig(flag: string | undefined, options: { server?: boolean } = {}): FoundConfig {
  if (flag) return { file: flag, source: 'flag' };
  if (process.env.AIBRIDGE_CONFIG) return { file: process.env.AIBRIDGE_CONFIG, source: 'env' };
  if (existsSync('aibridge.yaml')) return { file: 'aibridge.yaml', source: 'cwd' };
  if (!options.server) {
    const running = readServerRecord()?.config;
    if (running && existsSync(running)) return { file: running, source: 'server' };
  }
  return { file: undefined, source: 'defaults' };
}

/** The file found by the discovery order, if any. */
export const findConfigFile = (flag: string | undefined, options: { server?: boolean } = {}) =>
  findConfig(flag, options).file;

function load(file: string | undefined): Config {
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new ExitError(err.message, 2);
    throw err;
  }
}

/** The server's configuration: the file found (never another server's), else built-in defaults (a first run). */
export function resolveConfig(file: string | undefined): Config {
  return load(findConfigFile(file, { server: true }));
}

/** A command's configuration by the discovery order, and where it came from (no file: the defaults). */
export function discoverConfig(flag: string | undefined): FoundConfig & { config: Config } {
  const found = findConfig(flag);
  return { ...found, config: load(found.file) };
}

/**
 * A command's configuration, when it has one to go on: a file found, or the defaults when they
 * name a store that already exists (AIBRIDGE_MONGODB_URI, or the embedded file in ./.data). A
 * command run in the wrong directory must not quietly create an empty database.
 */
export function findCommandConfig(flag: string | undefined): Config | undefined {
  const { file, config } = discoverConfig(flag);
  if (!file && !config.mongodb.uri && !existsSync(embeddedStorePath(config.data_dir))) return undefined;
  return config;
}

/** An admin command's configuration; with none to go on it stops (exit 2) naming where it looked. */
export function resolveAdminConfig(file: string | undefined): Config {
  const config = findCommandConfig(file);
  if (!config) throw new ExitError(NO_CONFIG, 2);
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
