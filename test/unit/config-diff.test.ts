import { describe, expect, it } from 'vitest';
import { diffConfig } from '../../src/config/diff.ts';
import { validateConfig } from '../../src/config/load.ts';

const base = {
  listen: '127.0.0.1:4000',
  providers: [
    { name: 'openai', type: 'openai', base_url: 'https://api.openai.com/v1', api_key: 'a' },
    { name: 'anthropic', type: 'anthropic', base_url: 'https://api.anthropic.com', api_key: 'b' },
  ],
  mcp_servers: [
    { name: 'github', url: 'https://github.example/mcp', headers: { Authorization: 'Bearer x' } },
    { name: 'jira', url: 'https://jira.example/mcp' },
  ],
};
const load = (doc: object) => validateConfig(doc, 'test', {});

describe('diffConfig', () => {
  it('finds nothing between equal configs, whatever the key order', () => {
    const running = load(base);
    const reordered = base.mcp_servers.map(({ name, ...rest }) => ({ ...rest, name }));
    const next = load({ mcp_servers: reordered, providers: base.providers, listen: base.listen });
    expect(diffConfig(running, next).changes).toEqual({
      sections: [],
      servers: { added: [], removed: [], changed: [] },
      needRestart: [],
    });
  });

  it('compares mcp_servers by value and names the sections that change', () => {
    const running = load(base);
    const next = load({
      ...base,
      mcp_servers: [
        { ...base.mcp_servers[0], headers: { Authorization: 'Bearer y' } },
        { name: 'docs', url: 'https://docs.example/mcp' },
      ],
      tool_loop: { max_iterations: 8 },
      pricing: [{ model: 'x-*', input: 1, output: 2 }],
    });
    const { changes, effective } = diffConfig(running, next);
    expect(changes).toEqual({
      sections: ['mcp_servers', 'tool_loop', 'pricing'],
      servers: { added: ['docs'], removed: ['jira'], changed: ['github'] },
      needRestart: [],
    });
    expect(effective).toEqual(next);
  });

  it('keeps restart-only settings and the provider set at their running values', () => {
    const running = load(base);
    const next = load({
      ...base,
      listen: '0.0.0.0:4000',
      mongodb: { uri: 'mongodb://db:27017' },
      limits: { body_bytes: 4096, user_requests_per_minute: 10 },
      providers: [
        { name: 'openai', type: 'anthropic', base_url: 'https://x.example', api_key: 'c' },
        { name: 'mistral', type: 'openai', base_url: 'https://api.mistral.example/v1' },
        { ...base.providers[1], api_key: 'new' },
      ],
    });
    const { changes, effective } = diffConfig(running, next);
    expect(changes.needRestart).toEqual([
      'listen',
      'mongodb',
      'limits.body_bytes',
      'providers.openai.type',
      'providers.mistral (added)',
    ]);
    expect(changes.sections).toEqual(['providers', 'limits']);
    expect(effective.listen).toBe('127.0.0.1:4000');
    expect(effective.mongodb).toEqual(running.mongodb);
    expect(effective.limits).toEqual({ ...running.limits, user_requests_per_minute: 10 });
    expect(effective.providers.map((p) => [p.name, p.type, p.api_key])).toEqual([
      ['openai', 'openai', 'a'],
      ['anthropic', 'anthropic', 'new'],
    ]);
  });

  it('keeps a removed provider until a restart', () => {
    const running = load(base);
    const { changes, effective } = diffConfig(running, load({ ...base, providers: [base.providers[1]] }));
    expect(changes.needRestart).toEqual(['providers.openai (removed)']);
    expect(changes.sections).toEqual([]);
    expect(effective.providers).toEqual(running.providers);
  });
});
