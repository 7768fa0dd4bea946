// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about ${VAR} text
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, interpolate, loadConfig, validateConfig } from '../../src/config/load.ts';
import { PATTERN_WORDS } from '../../src/config/problems.ts';
import { configSchema } from '../../src/config/schema.ts';
import { parseDuration } from '../../src/duration.ts';

function problemsOf(doc: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig(doc, 'test', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('interpolation', () => {
  it('replaces ${VAR} and ${VAR:-default} in nested strings only', () => {
    const env = { A: 'alpha', EMPTY: '' };
    expect(
      interpolate({ x: '${A}', y: ['pre-${A}-post', '${MISSING:-fallback}'], z: 3, e: '${EMPTY:-d}' }, env),
    ).toEqual({
      x: 'alpha',
      y: ['pre-alpha-post', 'fallback'],
      z: 3,
      e: 'd',
    });
    expect(interpolate('${MISSING}', env)).toBe('');
  });
});

describe('defaults', () => {
  it('fills every default from the schema', () => {
    const config = validateConfig({}, 'test', {});
    expect(config).toMatchObject({
      listen: '127.0.0.1:4000',
      data_dir: './.data',
      mongodb: { uri: '', database: 'aibridge' },
      providers: [],
      mcp_servers: [],
      tool_loop: { max_iterations: 16 },
      annotations: { inject: false },
      retention: '60d',
      tracing: { enabled: false, logs: false },
    });
  });

  it('applies environment overrides', () => {
    const config = validateConfig({ listen: '0.0.0.0:1' }, 'test', {
      AIBRIDGE_LISTEN: '127.0.0.1:9999',
      AIBRIDGE_MONGODB_URI: 'mongodb://db:27017',
      AIBRIDGE_TRACE_ENABLE: 'true',
      AIBRIDGE_TRACE_LOGS: '1',
    });
    expect(config.listen).toBe('127.0.0.1:9999');
    expect(config.mongodb.uri).toBe('mongodb://db:27017');
    expect(config.tracing).toEqual({ enabled: true, logs: true });
  });

  it('loads the shipped example with keys from the environment', () => {
    const config = loadConfig('aibridge.example.yaml', {
      AIBRIDGE_OPENAI_API_KEY: 'sk-x',
      AIBRIDGE_ANTHROPIC_API_KEY: 'ak-y',
    });
    expect(config.providers.map((p) => [p.name, p.type, p.api_key])).toEqual([
      ['openai', 'openai', 'sk-x'],
      ['anthropic', 'anthropic', 'ak-y'],
    ]);
  });

  it('the shipped example ignores the variables clients export to reach the bridge', () => {
    const config = loadConfig('aibridge.example.yaml', {
      OPENAI_BASE_URL: 'http://127.0.0.1:4000/openai/v1',
      OPENAI_API_KEY: 'aib_client_token',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:4000/anthropic',
      ANTHROPIC_API_KEY: 'aib_client_token',
    });
    expect(config.providers.map((p) => [p.base_url, p.api_key])).toEqual([
      ['https://api.openai.com/v1', ''],
      ['https://api.anthropic.com', ''],
    ]);
  });
});

describe('provider settings that would loop or leak', () => {
  const provider = (base_url: string, api_key = 'sk-x') => ({ name: 'p', type: 'openai', base_url, api_key });

  it('refuses a base_url that is the listen address by any local name', () => {
    for (const [listen, base] of [
      ['127.0.0.1:4000', 'http://localhost:4000/v1'],
      ['127.0.0.1:4000', 'http://[::1]:4000'],
      ['localhost:4000', 'http://127.0.0.1:4000'],
      ['0.0.0.0:80', 'http://127.0.0.1'],
      ['0.0.0.0:4000', `http://${hostname()}:4000`],
    ] as const) {
      expect(problemsOf({ listen, providers: [provider(base)] }), `${listen} ${base}`).toEqual([
        `providers[0].base_url: points at the bridge itself (listen ${listen}); requests would loop`,
      ]);
    }
    for (const [listen, base] of [
      ['127.0.0.1:4000', 'http://127.0.0.1:4001'],
      ['127.0.0.1:4000', 'https://api.openai.com/v1'],
      ['127.0.0.1:0', 'http://127.0.0.1:0'],
    ] as const) {
      expect(problemsOf({ listen, providers: [provider(base)] }), `${listen} ${base}`).toEqual([]);
    }
  });

  it('refuses a bridge token as a provider key, without printing it', () => {
    const problems = problemsOf({ providers: [provider('https://x', 'aib_secret_token_value')] });
    expect(problems).toEqual([
      'providers[0].api_key: is an AI Bridge token (aib_…), not a provider key; a bridge token must never be sent upstream',
    ]);
  });
});

describe('errors', () => {
  it('lists every problem by its path', () => {
    const problems = problemsOf({
      listen: 'nope',
      providers: [
        { name: 'ok', type: 'openai', base_url: 'https://x' },
        { name: 'Bad_Name', type: 'gemini', base_url: 'not a url' },
        { type: 'anthropic', base_url: 'https://y' },
      ],
      retention: '10 weeks',
      tool_loop: { max_iterations: 0 },
      recording: { on_failure: 'drop' },
      typo: true,
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'listen: must be host:port (like 127.0.0.1:4000)',
        'providers[1].name: must be lowercase letters and digits, in words joined by - (like openai-eu)',
        expect.stringMatching(/^providers\[1\]\.type: must be one of "openai", "anthropic"/),
        'providers[2].name: is required',
        'retention: must be 0 or a duration in s, m, h or d (like 60d)',
        'tool_loop.max_iterations: must be at least 1',
        'recording.on_failure: must be one of "refuse", "serve"',
        'typo: is not a known setting',
      ]),
    );
  });

  it('says each setting’s problem once, in words, and suggests the setting a typo meant', () => {
    const problems = problemsOf({
      lisen: '127.0.0.1:4000',
      providers: [{ name: 'ok', type: 'openai', base_url: 'not a url' }],
      tool_loop: { paralelism: 2 },
      limits: { body_timeout: 30 },
    });
    expect(problems).toEqual([
      'lisen: is not a known setting; did you mean `listen`?',
      // One line for a value that breaks two rules (a URL, and http(s)).
      'providers[0].base_url: must be an http:// or https:// URL',
      'tool_loop.paralelism: is not a known setting; did you mean `parallelism`?',
      'limits.body_timeout: must be a duration in ms, s or m (like 30s)',
    ]);
    for (const line of problems) expect(line).not.toMatch(/[\^$]|\(\?|\[a-z/); // no regex shown
    // A name far from every setting gets no guess.
    expect(problemsOf({ zzzzzz: 1 })).toEqual(['zzzzzz: is not a known setting']);
  });

  it('has words for every pattern the schema and the provider kinds use', () => {
    const patterns = new Set<string>();
    const walk = (node: unknown) => {
      if (!node || typeof node !== 'object') return;
      const { pattern } = node as { pattern?: unknown };
      if (typeof pattern === 'string') patterns.add(pattern);
      for (const child of Object.values(node)) walk(child);
    };
    walk(configSchema());
    expect([...patterns].filter((p) => !(p in PATTERN_WORDS))).toEqual([]);
  });

  it('starts its message with a line that stands alone (no dangling colon)', () => {
    let message = '';
    try {
      validateConfig({ lisen: 'x', retention: 'forever' }, 'aibridge.yaml', {});
    } catch (err) {
      message = (err as Error).message;
    }
    const [first, ...rest] = message.split('\n');
    expect(first).toBe('invalid configuration aibridge.yaml (2 problems)');
    expect(rest).toEqual([
      '  lisen: is not a known setting; did you mean `listen`?',
      '  retention: must be 0 or a duration in s, m, h or d (like 60d)',
    ]);
  });

  it('rejects duplicate provider names and bad regexes', () => {
    const problems = problemsOf({
      providers: [
        { name: 'a', type: 'openai', base_url: 'https://x' },
        { name: 'a', type: 'anthropic', base_url: 'https://y' },
      ],
    });
    expect(problems).toEqual(['providers[1].name: duplicates another provider\'s name "a"']);
    expect(problemsOf({ mcp_servers: [{ name: 'gh', url: 'https://m', tool_deny_regex: '(' }] })).toEqual([
      'mcp_servers[0].tool_deny_regex: must be a valid regular expression',
    ]);
  });

  it("keeps the bridge's own MCP server name for the bridge", () => {
    expect(problemsOf({ mcp_servers: [{ name: 'aibridge', url: 'https://m' }] })).toEqual([
      'mcp_servers[0].name: "aibridge" is the bridge\'s own (its tools are bmcp_aibridge_…)',
    ]);
    expect(problemsOf({ annotations: { inject: 'yes' } })).toEqual(['annotations.inject: must be true or false']);
  });

  it('names unreadable and unparsable files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aibridge-config-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'listen: [unclosed');
    expect(() => loadConfig(bad, {})).toThrow(/not valid YAML or JSON/);
    expect(() => loadConfig(join(dir, 'missing.yaml'), {})).toThrow(/cannot be read \(ENOENT\)/);
    const json = join(dir, 'ok.json');
    writeFileSync(json, JSON.stringify({ listen: '127.0.0.1:1234' }));
    expect(loadConfig(json, {}).listen).toBe('127.0.0.1:1234');
  });
});

describe('durations', () => {
  it('parses the retention units', () => {
    expect(parseDuration('60d')).toBe(60 * 86_400_000);
    expect(parseDuration('1440h')).toBe(1440 * 3_600_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('45s')).toBe(45_000);
    expect(parseDuration(0)).toBe(0);
    expect(() => parseDuration('5y')).toThrow();
  });
});
