import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const compose = parse(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8'));

describe('docker-compose.yml', () => {
  it('has the bridge, MongoDB 8, Jaeger, Prometheus and Grafana', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['aibridge', 'grafana', 'jaeger', 'mongodb', 'prometheus']);
    expect(compose.services.mongodb.image).toMatch(/^mongo:8/);
    expect(existsSync(resolve(ROOT, 'Dockerfile'))).toBe(true);
  });

  it('wires the bridge to MongoDB and Jaeger through the environment', () => {
    const env = compose.services.aibridge.environment;
    expect(env.AIBRIDGE_MONGODB_URI).toBe('mongodb://mongodb:27017');
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://jaeger:4318');
    expect(compose.services.aibridge.depends_on.mongodb.condition).toBe('service_healthy');
  });

  it('mounts config and provisioning files that exist and are valid', () => {
    const mounts = Object.values(compose.services).flatMap((s: any) => (s.volumes ?? []) as string[]);
    for (const mount of mounts.filter((m) => m.startsWith('./'))) {
      expect(existsSync(resolve(ROOT, mount.split(':')[0] as string)), mount).toBe(true);
    }
    const config = loadConfig(resolve(ROOT, 'deploy/aibridge.yaml'), {
      AIBRIDGE_MONGODB_URI: 'mongodb://mongodb:27017',
    });
    expect(config.listen).toBe('0.0.0.0:4000');
    const prometheus = parse(readFileSync(resolve(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8'));
    expect(prometheus.scrape_configs[0].static_configs[0].targets).toEqual(['aibridge:4000']);
  });
});
