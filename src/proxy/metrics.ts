import { Counter, type Registry } from 'prom-client';

/** How one connection to the proxy ended up: a fixed set, so the label stays bounded. */
export const CONNECT_RESULTS = [
  'intercepted',
  'tunnelled',
  'denied',
  'loop',
  'unauthenticated',
  'auth_unavailable',
  'bad_request',
  'not_connect',
  'too_many',
  'upstream_failed',
  'tls_failed',
  'error',
] as const;
export type ConnectResult = (typeof CONNECT_RESULTS)[number];

/** What the proxy counts; the bridge backs it with Prometheus series, tests with plain numbers. */
export interface ProxyMetrics {
  connectSession(result: ConnectResult): void;
  /** One request served inside an intercepted TLS session, by the mapped host it was sent to. */
  mitmRequest(host: string): void;
  /** Bytes carried by tunnels, both directions together. */
  tunnelledBytes(bytes: number): void;
}

/** The proxy's series on `registry` (the bridge's own): every result starts at 0, so dashboards see it. */
export function createProxyMetrics(registry: Registry): ProxyMetrics {
  const sessions = new Counter({
    name: 'aibridge_proxy_connect_sessions_total',
    help: 'Connections to the intercepting proxy, by how they ended up.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  for (const result of CONNECT_RESULTS) sessions.labels(result).inc(0);
  const mitm = new Counter({
    name: 'aibridge_proxy_mitm_requests_total',
    help: 'Requests served inside intercepted TLS sessions, by mapped host.',
    labelNames: ['host'] as const,
    registers: [registry],
  });
  const tunnelled = new Counter({
    name: 'aibridge_proxy_tunnelled_bytes_total',
    help: 'Bytes carried by tunnelled CONNECT sessions, both directions.',
    registers: [registry],
  });
  return {
    connectSession: (result) => sessions.labels(result).inc(),
    mitmRequest: (host) => mitm.labels(host).inc(),
    tunnelledBytes: (bytes) => tunnelled.inc(bytes),
  };
}

export const NO_METRICS: ProxyMetrics = {
  connectSession() {},
  mitmRequest() {},
  tunnelledBytes() {},
};
