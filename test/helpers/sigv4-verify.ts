import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * Checks an AWS Signature Version 4 the way an AWS endpoint does: the key must be known, its
 * session token match, the scope name this region and service, the date be within five minutes,
 * and the signature recomputed (with `@smithy/signature-v4`) over the request as received,
 * body hashed anew, equal the one sent.
 */

export interface AwsKey {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface ReceivedRequest {
  method: string;
  /** Path and query exactly as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type SigV4Verdict =
  | { ok: true; key: AwsKey }
  | { ok: false; status: number; errorType: string; message: string };

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([a-z0-9;_-]+),\s*Signature=([0-9a-f]{64})$/;
const SKEW_MS = 5 * 60_000;
const INVALID_TOKEN = 'The security token included in the request is invalid.';
const MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

const refuse = (status: number, errorType: string, message: string): SigV4Verdict => ({
  ok: false,
  status,
  errorType,
  message,
});

const amzDate = (date: Date) =>
  date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

function parseAmzDate(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  return m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) : undefined;
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
};

export async function verifySigV4(
  request: ReceivedRequest,
  expect: { region: string; service: string; keys: readonly AwsKey[] },
): Promise<SigV4Verdict> {
  const authorization = header(request.headers, 'authorization');
  if (!authorization) return refuse(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  const auth = AUTH.exec(authorization);
  if (!auth) {
    return refuse(
      403,
      'IncompleteSignatureException',
      `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${authorization.split(' ')[0]}`,
    );
  }
  const [, credential = '', signedList = '', signature = ''] = auth;
  const [keyId, day, region, service, terminator, ...extra] = credential.split('/');
  const key = expect.keys.find((k) => k.accessKeyId === keyId);
  if (!key) return refuse(403, 'UnrecognizedClientException', INVALID_TOKEN);
  if ((header(request.headers, 'x-amz-security-token') ?? '') !== (key.sessionToken ?? '')) {
    return refuse(403, 'UnrecognizedClientException', INVALID_TOKEN);
  }
  const dateText = header(request.headers, 'x-amz-date');
  const date = dateText ? parseAmzDate(dateText) : undefined;
  if (!dateText || !date) {
    return refuse(
      403,
      'IncompleteSignatureException',
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    );
  }
  const now = Date.now();
  if (date.getTime() < now - SKEW_MS) {
    return refuse(
      403,
      'InvalidSignatureException',
      `Signature expired: ${dateText} is now earlier than ${amzDate(new Date(now - SKEW_MS))} (${amzDate(new Date(now))} - 5 min.)`,
    );
  }
  if (date.getTime() > now + SKEW_MS) {
    return refuse(
      403,
      'InvalidSignatureException',
      `Signature not yet current: ${dateText} is still later than ${amzDate(new Date(now + SKEW_MS))} (${amzDate(new Date(now))} + 5 min.)`,
    );
  }
  if (extra.length || terminator !== 'aws4_request' || day !== dateText.slice(0, 8)) {
    return refuse(403, 'InvalidSignatureException', `Credential should be scoped to a valid date: ${credential}`);
  }
  if (region !== expect.region) {
    return refuse(403, 'InvalidSignatureException', `Credential should be scoped to a valid region, not '${region}'.`);
  }
  if (service !== expect.service) {
    return refuse(
      403,
      'InvalidSignatureException',
      `Credential should be scoped to correct service: '${expect.service}'.`,
    );
  }
  const signedNames = signedList.split(';');
  if (!signedNames.includes('host')) {
    return refuse(
      403,
      'InvalidSignatureException',
      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    );
  }
  // The hash header, if sent, must be the body's: otherwise a body changed after signing would pass.
  const bodyHash = createHash('sha256').update(request.body).digest('hex');
  const sentHash = header(request.headers, 'x-amz-content-sha256');
  if (sentHash !== undefined && sentHash !== bodyHash) return refuse(403, 'InvalidSignatureException', MISMATCH);

  const headers: Record<string, string> = {};
  for (const name of signedNames) {
    const value = header(request.headers, name);
    if (value === undefined) return refuse(403, 'InvalidSignatureException', MISMATCH);
    headers[name] = value;
  }
  const mark = request.url.indexOf('?');
  const path = mark < 0 ? request.url : request.url.slice(0, mark);
  const query: Record<string, string | string[]> = {};
  if (mark >= 0) {
    for (const pair of request.url.slice(mark + 1).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      try {
        const name = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
        const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
        const before = query[name];
        query[name] = before === undefined ? value : [...(Array.isArray(before) ? before : [before]), value];
      } catch {
        return refuse(403, 'InvalidSignatureException', MISMATCH);
      }
    }
  }
  const signer = new SignatureV4({
    service: expect.service,
    region: expect.region,
    // The token, when signed, is among the headers already; the verifier must not add one.
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: true,
    applyChecksum: false,
  });
  const host = headers.host ?? '';
  const signed = await signer.sign(
    { method: request.method, protocol: 'http:', hostname: host, path, query, headers, body: request.body },
    { signingDate: date, signableHeaders: new Set(signedNames) },
  );
  const expected = /SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(String(signed.headers.authorization));
  const same =
    expected?.[1] === signedList && timingSafeEqual(Buffer.from(expected[2] ?? ''), Buffer.from(signature.padEnd(64)));
  return same ? { ok: true, key } : refuse(403, 'InvalidSignatureException', MISMATCH);
}
