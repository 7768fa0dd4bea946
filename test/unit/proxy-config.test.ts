import { describe, expect, it } from 'vitest';
import { diffConfig } from '../../src/config/diff.ts';
import { ConfigError, validateConfig } from '../../src/config/load.ts';

const PROVIDERS = [
  { name: 'openai', type: 'openai', base_url: 'https://api.openai.com/v1', api_key: 'a' },
  { name: 'anthropic', type: 'anthropic', base_url: 'https://api.anthropic.com', api_key: 'b' },
];
const HOSTS = { 'api.anthropic.com': 'anthropic', 'api.openai.com': 'openai' };

const load = (proxy: unknown, rest: Record<string, unknown> = {}) =>
  validateConfig({ listen: '127.0.0.1:4000', providers: PROVIDERS, proxy, ...rest }, 'test', {});

function problemsOf(proxy: unknown, rest: Record<string, unknown> = {}): string[] {
  try {
    load(proxy, rest);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('proxy: in the configuration', () => {
  it('is absent unless configured, and takes its defaults when it is', () => {
    expect(validateConfig({}, 'test', {}).proxy).toBeUndefined();
    expect(load({ listen: '127.0.0.1:4080' }).proxy).toEqual({
      listen: '127.0.0.1:4080',
      hosts: {},
      tunnel: 'allow',
      tunnel_private: false,
    });
    expect(load({ listen: '[::1]:4080', hosts: HOSTS, tunnel: 'deny', tunnel_private: true }).proxy).toMatchObject({
      hosts: HOSTS,
      tunnel: 'deny',
    });
  });

  it('names each problem by its path', () => {
    expect(problemsOf({})).toEqual(['proxy.listen: is required']);
    expect(problemsOf({ listen: '4080' })).toEqual(['proxy.listen: must be host:port (like 127.0.0.1:4000)']);
    expect(problemsOf({ listen: '127.0.0.1:4080', tunnel: 'sometimes' })).toEqual([
      'proxy.tunnel: must be one of "allow", "deny"',
    ]);
    expect(problemsOf({ listen: '127.0.0.1:4080', mitm: true })).toEqual(['proxy.mitm: is not a known setting']);
    expect(problemsOf({ listen: '127.0.0.1:4080', hosts: { 'api.anthropic.com': 'Anthropic' } })).toEqual([
      'proxy.hosts.api.anthropic.com: must be lowercase letters and digits, in words joined by - (like openai-eu)',
    ]);
  });

  it('wants every mapped host to be served by a configured provider', () => {
    expect(problemsOf({ listen: '127.0.0.1:4080', hosts: { 'api.anthropic.com': 'claude' } })).toEqual([
      'proxy.hosts["api.anthropic.com"]: names no configured provider ("claude")',
    ]);
  });

  it('refuses a key that is not a host, and two keys for one host and port', () => {
    expect(problemsOf({ listen: '127.0.0.1:4080', hosts: { 'https://api.anthropic.com': 'anthropic' } })).toEqual([
      'proxy.hosts: "https://api.anthropic.com" is not a host name or IP address (with an optional :port)',
    ]);
    expect(
      problemsOf({
        listen: '127.0.0.1:4080',
        hosts: { 'API.Anthropic.com.': 'anthropic', 'api.anthropic.com:443': 'openai' },
      }),
    ).toEqual(['proxy.hosts: "api.anthropic.com:443" is the same host as "API.Anthropic.com."']);
    // Another port is another address.
    expect(
      problemsOf({
        listen: '127.0.0.1:4080',
        hosts: { 'api.anthropic.com': 'anthropic', 'api.anthropic.com:8443': 'openai' },
      }),
    ).toEqual([]);
  });

  it('takes the CA files both or neither', () => {
    expect(problemsOf({ listen: '127.0.0.1:4080', ca_cert: '/etc/ca.pem' })).toEqual([
      'proxy.ca_key: is required when proxy.ca_cert is set',
    ]);
    expect(problemsOf({ listen: '127.0.0.1:4080', ca_key: '/etc/ca.key' })).toEqual([
      'proxy.ca_cert: is required when proxy.ca_key is set',
    ]);
  });

  it("refuses the bridge's own address", () => {
    expect(problemsOf({ listen: '127.0.0.1:4000' })).toEqual([
      "proxy.listen: is the bridge's own listen address (127.0.0.1:4000); give the proxy a port of its own",
    ]);
    expect(problemsOf({ listen: 'localhost:4000' })).toHaveLength(1);
    expect(problemsOf({ listen: '0.0.0.0:4000' })).toHaveLength(1);
    expect(problemsOf({ listen: '127.0.0.1:0' }, { listen: '127.0.0.1:0' })).toEqual([]); // any free port, each its own
  });
});

describe('proxy: on reload', () => {
  const running = load({ listen: '127.0.0.1:4080', hosts: HOSTS });

  it('takes new hosts, tunnel and tunnel_private at once', () => {
    const next = load({
      listen: '127.0.0.1:4080',
      hosts: { 'api.openai.com': 'openai' },
      tunnel: 'deny',
      tunnel_private: true,
    });
    const { effective, changes } = diffConfig(running, next);
    expect(changes.sections).toEqual(['proxy']);
    expect(changes.needRestart).toEqual([]);
    expect(effective.proxy).toEqual(next.proxy);
  });

  it('keeps the listener and the CA until a restart', () => {
    const next = load({ listen: '127.0.0.1:4081', hosts: HOSTS, ca_cert: '/etc/ca.pem', ca_key: '/etc/ca.key' });
    const { effective, changes } = diffConfig(running, next);
    expect(changes.needRestart).toEqual(['proxy.listen', 'proxy.ca_cert', 'proxy.ca_key']);
    expect(effective.proxy).toEqual(running.proxy);
    expect(changes.sections).toEqual([]);
  });

  it('is started or stopped only by a restart', () => {
    const without = load(undefined);
    expect(diffConfig(running, without)).toMatchObject({ changes: { needRestart: ['proxy'], sections: [] } });
    expect(diffConfig(running, without).effective.proxy).toEqual(running.proxy);
    expect(diffConfig(without, running)).toMatchObject({ changes: { needRestart: ['proxy'], sections: [] } });
    expect(diffConfig(without, running).effective.proxy).toBeUndefined();
  });

  it('keeps the running hosts while one names a provider only a restart adds', () => {
    const next = validateConfig(
      {
        listen: '127.0.0.1:4000',
        providers: [
          ...PROVIDERS,
          { name: 'mistral', type: 'openai', base_url: 'https://api.mistral.ai/v1', api_key: 'c' },
        ],
        proxy: { listen: '127.0.0.1:4080', hosts: { ...HOSTS, 'api.mistral.ai': 'mistral' } },
      },
      'test',
      {},
    );
    const { effective, changes } = diffConfig(running, next);
    expect(changes.needRestart).toEqual(['providers.mistral (added)', 'proxy.hosts']);
    expect(effective.proxy?.hosts).toEqual(HOSTS);
  });
});
