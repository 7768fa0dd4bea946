import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** One span as a collector sees it, from either OTLP/HTTP encoding. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, AttributeValue>;
}

type Scalar = string | number | boolean;
type AttributeValue = Scalar | Scalar[];

/** One histogram data point as a collector sees it (the GenAI histograms are all we export). */
export interface ReceivedPoint {
  metric: string;
  unit: string;
  attributes: Record<string, AttributeValue>;
  count: number;
  sum: number;
  bounds: number[];
}

export interface ReceivedExport {
  path: string;
  contentType: string;
  headers: IncomingHttpHeaders;
  serviceName: string | undefined;
  spans: ReceivedSpan[];
  points: ReceivedPoint[];
}

/**
 * A minimal OTLP/HTTP collector: decodes http/json and http/protobuf exports of traces and of
 * histogram metrics, and answers 200.
 */
export class OtlpReceiver {
  readonly exports: ReceivedExport[] = [];
  readonly url: string;
  readonly #server: Server;

  private constructor(server: Server, url: string) {
    this.#server = server;
    this.url = url;
  }

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new OtlpReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', async (req, res) => {
      const parts: Buffer[] = [];
      for await (const part of req) parts.push(part as Buffer);
      let body = Buffer.concat(parts);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const contentType = req.headers['content-type'] ?? '';
      const json = contentType.includes('json');
      const decoded = req.url?.endsWith('/v1/metrics')
        ? { spans: [], ...(json ? decodeJsonMetrics(body) : decodeProtobufMetrics(body)) }
        : { points: [], ...(json ? decodeJson(body) : decodeProtobuf(body)) };
      receiver.exports.push({ path: req.url ?? '', contentType, headers: req.headers, ...decoded });
      res.writeHead(200, { 'content-type': contentType.includes('json') ? 'application/json' : contentType });
      res.end(contentType.includes('json') ? '{}' : undefined);
    });
    return receiver;
  }

  get spans(): ReceivedSpan[] {
    return this.exports.flatMap((e) => e.spans);
  }

  get points(): ReceivedPoint[] {
    return this.exports.flatMap((e) => e.points);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

type Decoded = Pick<ReceivedExport, 'serviceName' | 'spans'>;
type DecodedMetrics = Pick<ReceivedExport, 'serviceName' | 'points'>;

interface JsonAnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values?: JsonAnyValue[] };
}

interface JsonKeyValue {
  key: string;
  value: JsonAnyValue;
}

const jsonScalar = (v: JsonAnyValue): Scalar =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? ''));
const jsonValue = (v: JsonAnyValue): AttributeValue =>
  v.arrayValue ? (v.arrayValue.values ?? []).map(jsonScalar) : jsonScalar(v);

function decodeJson(body: Buffer): Decoded {
  const request = JSON.parse(body.toString('utf8')) as {
    resourceSpans: Array<{
      resource?: { attributes?: JsonKeyValue[] };
      scopeSpans: Array<{
        spans: Array<{
          traceId: string;
          spanId: string;
          parentSpanId?: string;
          name: string;
          attributes?: JsonKeyValue[];
        }>;
      }>;
    }>;
  };
  let serviceName: string | undefined;
  const spans: ReceivedSpan[] = [];
  for (const rs of request.resourceSpans) {
    const service = rs.resource?.attributes?.find((a) => a.key === 'service.name');
    if (service) serviceName = String(jsonValue(service.value));
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        spans.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, jsonValue(a.value)])),
        });
      }
    }
  }
  return { serviceName, spans };
}

/** Protobuf wire format: just enough to walk ExportTraceServiceRequest (no schema library needed). */
type Field = { no: number; varint?: bigint; bytes?: Buffer; fixed64?: Buffer };

function readFields(buf: Buffer): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[pos++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const no = key >> 3;
    const wire = key & 7;
    if (wire === 0) fields.push({ no, varint: varint() });
    else if (wire === 1) {
      fields.push({ no, fixed64: buf.subarray(pos, pos + 8) });
      pos += 8;
    } else if (wire === 2) {
      const len = Number(varint());
      fields.push({ no, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 5) pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return fields;
}

const sub = (fields: Field[], no: number) => fields.filter((f) => f.no === no && f.bytes).map((f) => f.bytes as Buffer);

/** One AnyValue: a scalar, or an ArrayValue (field 5) of scalars. */
function anyValue(any: Field): AttributeValue | undefined {
  if (any.no === 1) return any.bytes?.toString('utf8') ?? '';
  if (any.no === 2) return any.varint === 1n;
  if (any.no === 3) return Number(any.varint);
  if (any.no === 4) return any.fixed64?.readDoubleLE(0) ?? 0;
  if (any.no === 5)
    return sub(readFields(any.bytes ?? Buffer.alloc(0)), 1).flatMap((v) => {
      const item = readFields(v)[0];
      const value = item && anyValue(item);
      return value === undefined || Array.isArray(value) ? [] : [value];
    });
  return undefined;
}

function keyValues(fields: Field[], no: number): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of sub(fields, no).map(readFields)) {
    const key = sub(kv, 1)[0]?.toString('utf8') ?? '';
    const any = readFields(sub(kv, 2)[0] ?? Buffer.alloc(0))[0];
    const value = any && anyValue(any);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function decodeProtobuf(body: Buffer): Decoded {
  let serviceName: string | undefined;
  const spans: ReceivedSpan[] = [];
  for (const rs of sub(readFields(body), 1).map(readFields)) {
    const resource = sub(rs, 1)[0];
    const service = resource ? keyValues(readFields(resource), 1)['service.name'] : undefined;
    if (service !== undefined) serviceName = String(service);
    for (const ss of sub(rs, 2).map(readFields)) {
      for (const s of sub(ss, 2).map(readFields)) {
        const hex = (no: number) => sub(s, no)[0]?.toString('hex') ?? '';
        spans.push({
          traceId: hex(1),
          spanId: hex(2),
          parentSpanId: hex(4),
          name: sub(s, 5)[0]?.toString('utf8') ?? '',
          attributes: keyValues(s, 9),
        });
      }
    }
  }
  return { serviceName, spans };
}

function decodeJsonMetrics(body: Buffer): DecodedMetrics {
  const request = JSON.parse(body.toString('utf8')) as {
    resourceMetrics: Array<{
      resource?: { attributes?: JsonKeyValue[] };
      scopeMetrics: Array<{
        metrics: Array<{
          name: string;
          unit?: string;
          histogram?: {
            dataPoints: Array<{
              attributes?: JsonKeyValue[];
              count: string | number;
              sum?: number;
              explicitBounds?: number[];
            }>;
          };
        }>;
      }>;
    }>;
  };
  let serviceName: string | undefined;
  const points: ReceivedPoint[] = [];
  for (const rm of request.resourceMetrics) {
    const service = rm.resource?.attributes?.find((a) => a.key === 'service.name');
    if (service) serviceName = String(jsonValue(service.value));
    for (const sm of rm.scopeMetrics)
      for (const m of sm.metrics)
        for (const p of m.histogram?.dataPoints ?? [])
          points.push({
            metric: m.name,
            unit: m.unit ?? '',
            attributes: Object.fromEntries((p.attributes ?? []).map((a) => [a.key, jsonValue(a.value)])),
            count: Number(p.count),
            sum: p.sum ?? 0,
            bounds: p.explicitBounds ?? [],
          });
  }
  return { serviceName, points };
}

/** ExportMetricsServiceRequest → ResourceMetrics → ScopeMetrics → Metric → Histogram → HistogramDataPoint. */
function decodeProtobufMetrics(body: Buffer): DecodedMetrics {
  let serviceName: string | undefined;
  const points: ReceivedPoint[] = [];
  for (const rm of sub(readFields(body), 1).map(readFields)) {
    const resource = sub(rm, 1)[0];
    const service = resource ? keyValues(readFields(resource), 1)['service.name'] : undefined;
    if (service !== undefined) serviceName = String(service);
    for (const sm of sub(rm, 2).map(readFields)) {
      for (const m of sub(sm, 2).map(readFields)) {
        const text = (no: number) => sub(m, no)[0]?.toString('utf8') ?? '';
        for (const histogram of sub(m, 9).map(readFields)) {
          for (const p of sub(histogram, 1).map(readFields)) {
            const fixed = (no: number) => p.find((f) => f.no === no)?.fixed64;
            const packed = sub(p, 7)[0] ?? Buffer.alloc(0);
            points.push({
              metric: text(1),
              unit: text(3),
              attributes: keyValues(p, 9),
              count: Number(fixed(4)?.readBigUInt64LE(0) ?? 0n),
              sum: fixed(5)?.readDoubleLE(0) ?? 0,
              bounds: Array.from({ length: packed.length / 8 }, (_, i) => packed.readDoubleLE(i * 8)),
            });
          }
        }
      }
    }
  }
  return { serviceName, points };
}
