import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(resolve(ROOT, file), 'utf8');
const compose = parse(read('docker-compose.yml'));
const bridge = compose.services.aibridge;

/** Dockerfile instructions as [KEYWORD, arguments], continuation lines joined, comments dropped. */
function instructions(text: string): Array<[string, string]> {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const at = line.indexOf(' ');
      return [line.slice(0, at).toUpperCase(), line.slice(at + 1).trim()];
    });
}

const dockerfile = instructions(read('Dockerfile'));
const lastFrom = dockerfile.findLastIndex(([k]) => k === 'FROM');
const runtime = dockerfile.slice(lastFrom);
const at = (keyword: string, pattern: RegExp) => runtime.findIndex(([k, a]) => k === keyword && pattern.test(a));
const dockerignore = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

describe('docker-compose.yml', () => {
  it('has the bridge, MongoDB 8, Jaeger v2, Prometheus 3 and Grafana, every image pinned', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['aibridge', 'grafana', 'jaeger', 'mongodb', 'prometheus']);
    expect(bridge.build).toBe('.');
    expect(compose.services.mongodb.image).toMatch(/^mongo:8(\.|$)/);
    expect(compose.services.jaeger.image).toMatch(/^jaegertracing\/jaeger:2\.\d+\.\d+$/); // not v1's all-in-one
    expect(compose.services.prometheus.image).toMatch(/^prom\/prometheus:v3\.\d+\.\d+$/);
    const grafana = /^grafana\/grafana:(\d+)\.\d+\.\d+$/.exec(compose.services.grafana.image);
    expect(Number(grafana?.[1])).toBeGreaterThanOrEqual(13);
  });

  it('wires the bridge to MongoDB and Jaeger, and upstream keys through AIBRIDGE_ variables', () => {
    const env = bridge.environment;
    expect(env.AIBRIDGE_MONGODB_URI).toBe('mongodb://mongodb:27017');
    expect(bridge.depends_on.mongodb.condition).toBe('service_healthy');
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://jaeger:4318');
    expect(env.OTEL_EXPORTER_OTLP_PROTOCOL).toBe('http/protobuf');
    expect(compose.services.jaeger.ports).toEqual(
      expect.arrayContaining(['16686:16686', '4317:4317', '4318:4318'].map((p) => expect.stringMatching(`^${p}`))),
    );
    for (const name of ['AIBRIDGE_OPENAI_API_KEY', 'AIBRIDGE_ANTHROPIC_API_KEY']) {
      expect(env[name]).toBe(`\${${name}:-}`);
    }
    // OPENAI_* / ANTHROPIC_* are what clients export to reach the bridge, never its own keys.
    expect(Object.keys(env).filter((k) => /^(OPENAI|ANTHROPIC)_/.test(k))).toEqual([]);
  });

  it('mounts config and provisioning files that exist and are valid', () => {
    const mounts = Object.values(compose.services).flatMap((s: any) => (s.volumes ?? []) as string[]);
    for (const mount of mounts.filter((m) => m.startsWith('./'))) {
      expect(existsSync(resolve(ROOT, mount.split(':')[0] as string)), mount).toBe(true);
    }
    const config = loadConfig(resolve(ROOT, 'deploy/aibridge.yaml'), {
      AIBRIDGE_MONGODB_URI: 'mongodb://mongodb:27017',
      AIBRIDGE_OPENAI_API_KEY: 'sk-o',
      AIBRIDGE_ANTHROPIC_API_KEY: 'sk-a',
    });
    expect(config.listen).toBe('0.0.0.0:4000');
    expect(config.providers.map((p) => [p.name, p.api_key])).toEqual([
      ['openai', 'sk-o'],
      ['anthropic', 'sk-a'],
    ]);
    expect(bridge.volumes).toContain('./deploy/aibridge.yaml:/etc/aibridge/aibridge.yaml:ro');
    const prometheus = parse(read('deploy/prometheus/prometheus.yml'));
    expect(prometheus.scrape_configs[0].static_configs[0].targets).toEqual(['aibridge:4000']);
  });

  it("keeps the bridge's data_dir on a named volume the image owns", () => {
    const config = loadConfig(resolve(ROOT, 'deploy/aibridge.yaml'), {});
    expect(config.data_dir).toBe('/var/lib/aibridge');
    const volume = (bridge.volumes as string[]).find((v) => v.endsWith(`:${config.data_dir}`)) as string;
    expect(volume).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(volume.split(':')[0]);
    expect(runtime.some(([k, a]) => k === 'VOLUME' && a.includes(config.data_dir))).toBe(true);
    expect(bridge.ports).toContain('4000:4000');
  });
});

describe('Dockerfile', () => {
  it('builds with dev dependencies, then runs on a pinned official Node 24 with production ones only', () => {
    const froms = dockerfile.filter(([k]) => k === 'FROM').map(([, a]) => a);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^node:24(-[a-z]+)?( AS \w+)?$/i);
    const build = dockerfile.slice(0, lastFrom);
    expect(build.some(([k, a]) => k === 'RUN' && /npm ci\b/.test(a) && !a.includes('--omit=dev'))).toBe(true);
    expect(build.some(([k, a]) => k === 'RUN' && a.includes('scripts/build.ts'))).toBe(true);
    expect(runtime.some(([k, a]) => k === 'RUN' && /npm ci .*--omit=dev/.test(a))).toBe(true);
    // The runtime carries the compiled output, never the TypeScript sources.
    expect(runtime.some(([k, a]) => k === 'COPY' && /^--from=\w+ \S*dist \S*dist$/.test(a))).toBe(true);
    expect(runtime.filter(([k, a]) => k === 'COPY' && /(^|\s)src\b/.test(a))).toEqual([]);
    for (const [, args] of dockerfile.filter(([k, a]) => k === 'COPY' && !a.startsWith('--from'))) {
      for (const source of args.split(/\s+/).slice(0, -1)) expect(existsSync(resolve(ROOT, source)), source).toBe(true);
    }
  });

  it('runs as a non-root user that owns the data volume, created before VOLUME', () => {
    const chown = at('RUN', /mkdir -p \/var\/lib\/aibridge.*chown node:node \/var\/lib\/aibridge/);
    const volume = at('VOLUME', /\/var\/lib\/aibridge/);
    const user = runtime.findLastIndex(([k]) => k === 'USER');
    expect(chown).toBeGreaterThan(0);
    expect(volume).toBeGreaterThan(chown);
    expect(runtime[user]?.[1]).toBe('node');
    expect(user).toBeGreaterThan(chown);
  });

  it('listens on 0.0.0.0:4000, checks /healthz with node and runs the compiled server', () => {
    expect(at('ENV', /(^|\s)AIBRIDGE_LISTEN=0\.0\.0\.0:4000(\s|$)/)).toBeGreaterThan(0);
    // Admin commands run in the image use the same file as the server.
    expect(at('ENV', /(^|\s)AIBRIDGE_CONFIG=\/etc\/aibridge\/aibridge\.yaml(\s|$)/)).toBeGreaterThan(0);
    expect(at('EXPOSE', /^4000$/)).toBeGreaterThan(0);
    const health = runtime.find(([k]) => k === 'HEALTHCHECK')?.[1] ?? '';
    expect(health).toMatch(/CMD \["node", "-e", ".*http:\/\/127\.0\.0\.1:4000\/healthz/);
    const exec = (keyword: string) => JSON.parse(runtime.find(([k]) => k === keyword)?.[1] ?? 'null');
    expect(exec('ENTRYPOINT')).toEqual(['node', 'dist/src/cli.js']);
    expect(exec('CMD')).toEqual(['server', '--config', '/etc/aibridge/aibridge.yaml']);
  });

  it('has a .dockerignore that keeps local state, secrets and artefacts out of the context', () => {
    for (const entry of ['.git', 'node_modules', '.tools', 'dist', '.data', '.data-*', 'test', '.env']) {
      expect(dockerignore).toContain(entry);
    }
    // …but not what the Dockerfile copies.
    for (const [, args] of dockerfile.filter(([k, a]) => k === 'COPY' && !a.startsWith('--from'))) {
      for (const source of args.split(/\s+/).slice(0, -1)) expect(dockerignore).not.toContain(source);
    }
  });
});
