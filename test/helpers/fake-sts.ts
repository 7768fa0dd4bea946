import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AwsKey, verifySigV4 } from './sigv4-verify.ts';

/**
 * A fake AWS STS (query protocol, XML answers) on loopback for role assumption: `AssumeRole`,
 * signed with SigV4 by a key it knows, for one role (and external id, when set); and
 * `AssumeRoleWithWebIdentity`, unsigned, with one web identity token (as EKS pods use). Point
 * the SDK at it with `AWS_ENDPOINT_URL_STS`.
 */

export interface FakeStsOptions {
  region?: string;
  /** Keys allowed to call AssumeRole. */
  keys: AwsKey[];
  roleArn: string;
  externalId?: string;
  /** The token AssumeRoleWithWebIdentity accepts. */
  webIdentityToken?: string;
  /** How long issued credentials last. */
  lifetimeSeconds?: number;
}

const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/** Query-protocol names of the signature failures the JSON services call otherwise. */
const QUERY_ERROR: Record<string, string> = {
  InvalidSignatureException: 'SignatureDoesNotMatch',
  UnrecognizedClientException: 'InvalidClientTokenId',
  MissingAuthenticationTokenException: 'MissingAuthenticationToken',
  IncompleteSignatureException: 'IncompleteSignature',
};

export class FakeSts {
  readonly url: string;
  /** Every AssumeRole* call that got credentials, in order. */
  readonly issued: Array<AwsKey & { action: string; sessionName: string }> = [];
  /** Called with each key issued (e.g. to let a fake Bedrock accept it). */
  onIssue: (key: AwsKey) => void = () => {};
  lifetimeSeconds: number;
  readonly #server: Server;
  readonly #options: FakeStsOptions;
  #serial = 0;

  private constructor(server: Server, url: string, options: FakeStsOptions) {
    this.#server = server;
    this.url = url;
    this.#options = options;
    this.lifetimeSeconds = options.lifetimeSeconds ?? 3600;
  }

  static async start(options: FakeStsOptions): Promise<FakeSts> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const sts = new FakeSts(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, options);
    server.on('request', async (req, res) => {
      const parts: Buffer[] = [];
      for await (const part of req) parts.push(part as Buffer);
      const body = Buffer.concat(parts);
      const params = new URLSearchParams(body.toString('utf8'));
      const action = params.get('Action');
      if (action === 'AssumeRoleWithWebIdentity') return sts.#webIdentity(params, res);
      const verdict = await verifySigV4(
        { method: req.method ?? '', url: req.url ?? '/', headers: req.headers, body },
        { region: options.region ?? 'us-east-1', service: 'sts', keys: options.keys },
      );
      if (!verdict.ok)
        return stsError(res, verdict.status, QUERY_ERROR[verdict.errorType] ?? verdict.errorType, verdict.message);
      if (action !== 'AssumeRole') return stsError(res, 400, 'InvalidAction', `Could not find operation ${action}`);
      return sts.#assumeRole(params, verdict.key, res);
    });
    return sts;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #assumeRole(params: URLSearchParams, caller: AwsKey, res: ServerResponse): void {
    const roleArn = params.get('RoleArn');
    const denied = `User: arn:aws:iam::123456789012:user/${caller.accessKeyId} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`;
    const allowed =
      roleArn === this.#options.roleArn && (params.get('ExternalId') ?? undefined) === this.#options.externalId;
    if (allowed) this.#issue('AssumeRole', params, res);
    else stsError(res, 403, 'AccessDenied', denied);
  }

  #webIdentity(params: URLSearchParams, res: ServerResponse) {
    if (!this.#options.webIdentityToken || params.get('WebIdentityToken') !== this.#options.webIdentityToken) {
      return stsError(
        res,
        400,
        'InvalidIdentityToken',
        "Couldn't retrieve verification key from your identity provider",
      );
    }
    if (params.get('RoleArn') !== this.#options.roleArn) {
      return stsError(res, 403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    }
    this.#issue('AssumeRoleWithWebIdentity', params, res);
  }

  #issue(action: string, params: URLSearchParams, res: ServerResponse) {
    const sessionName = params.get('RoleSessionName') ?? '';
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
      return stsError(
        res,
        400,
        'ValidationError',
        'RoleSessionName must satisfy regular expression pattern: [\\w+=,.@-]*',
      );
    }
    const key: AwsKey = {
      accessKeyId: `ASIA${String(++this.#serial).padStart(16, '0')}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(48).toString('base64'),
    };
    this.issued.push({ ...key, action, sessionName });
    this.onIssue(key);
    const expiration = new Date(Date.now() + this.lifetimeSeconds * 1000).toISOString();
    const xml =
      `<${action}Response xmlns="${XMLNS}"><${action}Result><Credentials>` +
      `<AccessKeyId>${key.accessKeyId}</AccessKeyId><SecretAccessKey>${key.secretAccessKey}</SecretAccessKey>` +
      `<SessionToken>${key.sessionToken}</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
      `<AssumedRoleUser><AssumedRoleId>AROA0000000000EXAMPLE:${sessionName}</AssumedRoleId>` +
      `<Arn>${this.#options.roleArn.replace(':role/', ':assumed-role/')}/${sessionName}</Arn></AssumedRoleUser>` +
      `</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`;
    res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) }).end(xml);
  }
}

function stsError(res: ServerResponse, status: number, code: string, message: string): void {
  const xml =
    `<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code>` +
    `<Message>${message.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Message></Error>` +
    `<RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) }).end(xml);
}
