import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { oidcProblems } from '../identity/oidc/config.ts';
import { BRIDGE_SERVER } from '../mcp/tool-names.ts';
import { parseByteSize, recordingProblems } from '../recorder/sanitize.ts';
import { auditSinkProblems } from '../recorder/sinks/settings.ts';
import type { Config } from './config.ts';
import { describeErrors } from './problems.ts';
import { providerProblems } from './provider-checks.ts';
import { proxyProblems } from './proxy-checks.ts';
import { configSchema } from './schema.ts';

/**
 * Every problem of a file, one line each under a first line that says how many: a first line
 * read alone (a supervisor's log) still says what happened, and never ends on a colon.
 */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`invalid configuration ${file} (${count})\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
// verbose: an error carries its schema, so an unknown setting can be matched against the known ones.
const ajv = addFormats(
  new Ajv({ allErrors: true, useDefaults: true, allowUnionTypes: true, strict: false, verbose: true }),
);
const validate = ajv.compile<Config>(configSchema());

/** Replaces ${VAR} and ${VAR:-default} in every string of a parsed document. */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const found = env[name];
      return found !== undefined && found !== '' ? found : (fallback ?? '');
    });
  }
  if (Array.isArray(value)) return value.map((item) => interpolate(item, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  }
  return value;
}

const truthy = (v: string) => /^(1|true|yes|on)$/i.test(v);

/** Applies the documented environment overrides onto the interpolated document. */
function applyEnvOverrides(doc: Record<string, any>, env: NodeJS.ProcessEnv): void {
  if (env.AIBRIDGE_LISTEN) doc.listen = env.AIBRIDGE_LISTEN;
  if (env.AIBRIDGE_MONGODB_URI) doc.mongodb = { ...(doc.mongodb ?? {}), uri: env.AIBRIDGE_MONGODB_URI };
  if (env.AIBRIDGE_TRACE_ENABLE) doc.tracing = { ...(doc.tracing ?? {}), enabled: truthy(env.AIBRIDGE_TRACE_ENABLE) };
  if (env.AIBRIDGE_TRACE_LOGS) doc.tracing = { ...(doc.tracing ?? {}), logs: truthy(env.AIBRIDGE_TRACE_LOGS) };
}

function semanticProblems(config: Config): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  config.providers.forEach((p, i) => {
    if (seen.has(p.name)) problems.push(`providers[${i}].name: duplicates another provider's name "${p.name}"`);
    seen.add(p.name);
  });
  const servers = new Set<string>();
  config.mcp_servers.forEach((s, i) => {
    if (servers.has(s.name)) problems.push(`mcp_servers[${i}].name: duplicates another server's name "${s.name}"`);
    if (s.name === BRIDGE_SERVER) {
      problems.push(
        `mcp_servers[${i}].name: "${BRIDGE_SERVER}" is the bridge's own (its tools are bmcp_${BRIDGE_SERVER}_…)`,
      );
    }
    servers.add(s.name);
    if (s.max_tools_bytes !== undefined && parseByteSize(s.max_tools_bytes) < 1024)
      problems.push(`mcp_servers[${i}].max_tools_bytes: must be at least 1KiB`);
  });
  problems.push(...recordingProblems(config.recording));
  problems.push(...providerProblems(config));
  problems.push(...auditSinkProblems(config.audit_sinks));
  problems.push(...proxyProblems(config));
  problems.push(...oidcProblems(config));
  return problems;
}

/** Validates an already-parsed document (after interpolation and overrides). */
export function validateConfig(document: unknown, file = '(inline)', env: NodeJS.ProcessEnv = process.env): Config {
  const doc = interpolate(document ?? {}, env);
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(file, ['(root): must be a mapping of settings']);
  }
  applyEnvOverrides(doc as Record<string, unknown>, env);
  if (!validate(doc)) throw new ConfigError(file, describeErrors(validate.errors ?? []));
  const problems = semanticProblems(doc);
  if (problems.length) throw new ConfigError(file, problems);
  return doc;
}

/** Reads a YAML or JSON file; relative data_dir resolves against the working directory. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  if (!file) return validateConfig({}, '(defaults)', env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`(file): cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`]);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text); // YAML is a superset of JSON, so one parser serves both.
  } catch (err) {
    throw new ConfigError(file, [`(file): not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
  const config = validateConfig(parsed, file, env);
  config.data_dir = resolve(config.data_dir);
  return config;
}

export const configDir = (file: string) => dirname(resolve(file));
