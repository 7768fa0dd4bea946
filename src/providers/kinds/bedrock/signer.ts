import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { type AwsCredentialSource, type BedrockCredentialsConfig, bedrockCredentials } from './credentials.ts';

/** Bedrock's SigV4 signing name, for the runtime and the control plane alike. */
export const BEDROCK_SERVICE = 'bedrock';

export interface RequestToSign {
  method: string;
  /** `https://bedrock-runtime.us-east-1.amazonaws.com`: the Host signed is this origin's host. */
  origin: string;
  /**
   * Path and query exactly as they will be sent, already URL-encoded
   * (`/model/arn%3Aaws%3Abedrock%3A…%2Fabc/invoke`): SigV4 encodes it once more, as AWS does.
   */
  path: string;
  headers: Record<string, string>;
  /** The whole body: SigV4 signs its hash. */
  body?: string | Uint8Array;
  /** The signing time (default now). */
  date?: Date;
}

/**
 * Headers never signed from the caller's set: the signature's own (a client's signature for
 * the bridge must not leak upstream or pin the payload hash), and those describing one
 * connection. A `content-length` is recomputed from the body.
 */
const REPLACED = new Set([
  'authorization',
  'host',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
  'content-length',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/** Signs upstream Bedrock requests with AWS Signature Version 4. */
export class BedrockSigner {
  readonly region: string;
  readonly #signer: SignatureV4;

  constructor(config: BedrockCredentialsConfig, credentials: AwsCredentialSource = bedrockCredentials(config)) {
    this.region = config.region;
    this.#signer = new SignatureV4({
      service: BEDROCK_SERVICE,
      region: config.region,
      credentials,
      sha256: Hash.bind(null, 'sha256'),
      // Non-S3 services sign the path encoded once more than it is sent, as the AWS SDK does.
      uriEscapePath: true,
      applyChecksum: true,
    });
  }

  /**
   * The headers to send: the caller's, minus the replaced ones, plus host, date, payload hash,
   * session token and authorization. Send exactly these, with exactly this body.
   */
  async sign(request: RequestToSign): Promise<Record<string, string>> {
    const origin = new URL(request.origin);
    const { pathname, query } = splitPath(request.path);
    const headers: Record<string, string> = {};
    let withLength = false;
    for (const [name, value] of Object.entries(request.headers)) {
      const lower = name.toLowerCase();
      if (lower === 'content-length') withLength = true;
      else if (!REPLACED.has(lower)) headers[lower] = value;
    }
    headers.host = origin.host;
    const body = request.body;
    // Signed when asked for (the AWS SDK signs it), and then always the body's true length.
    if (withLength) headers['content-length'] = String(body === undefined ? 0 : byteLength(body));
    const signed = await this.#signer.sign(
      {
        method: request.method.toUpperCase(),
        protocol: origin.protocol,
        hostname: origin.hostname,
        ...(origin.port ? { port: Number(origin.port) } : {}),
        path: pathname,
        query,
        headers,
        body,
      },
      request.date ? { signingDate: request.date } : {},
    );
    return signed.headers;
  }
}

const byteLength = (body: string | Uint8Array) =>
  typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;

/**
 * Splits `/path?query` into the path as sent and the query decoded, which is how SigV4 wants
 * them. Dot segments and empty segments are refused: AWS normalises them away before checking a
 * signature while the request itself would go elsewhere.
 */
function splitPath(path: string): { pathname: string; query: Record<string, string | string[]> } {
  const mark = path.indexOf('?');
  const pathname = mark < 0 ? path : path.slice(0, mark);
  if (!pathname.startsWith('/') || /\/\/|\/\.\.?(?:\/|$)/.test(pathname) || /[\s#]/.test(path)) {
    throw new Error(`refusing to sign an unusual request path: ${JSON.stringify(path.slice(0, 200))}`);
  }
  const query: Record<string, string | string[]> = {};
  if (mark >= 0) {
    for (const pair of path.slice(mark + 1).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      const key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
      const previous = query[key];
      query[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
    }
  }
  return { pathname, query };
}
