import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AwsCredentialsError,
  type BedrockCredentialsConfig,
  bedrockCredentials,
} from '../../src/providers/kinds/bedrock/credentials.ts';
import { BedrockSigner } from '../../src/providers/kinds/bedrock/signer.ts';
import { FakeBedrock } from '../helpers/fake-bedrock.ts';
import { FakeSts } from '../helpers/fake-sts.ts';
import type { AwsKey } from '../helpers/sigv4-verify.ts';
import { tempDirs } from '../helpers/temp.ts';

const REGION = 'us-east-1';
const ROLE = 'arn:aws:iam::123456789012:role/aibridge-bedrock';
const MASTER: AwsKey = { accessKeyId: 'AKIAMASTERKEY0000001', secretAccessKey: 'master-secret-key' };
const PROFILE_KEY: AwsKey = { accessKeyId: 'AKIAPROFILEKEY000001', secretAccessKey: 'profile-secret-key' };
const ENV_KEY: AwsKey = {
  accessKeyId: 'ASIAENVKEY0000000001',
  secretAccessKey: 'env-secret',
  sessionToken: 'env-token',
};
const WEB_IDENTITY_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YWk6YnJpZGdlIn0.c2ln';
const BODY = JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 8, messages: [] });
const PATH = `/model/${encodeURIComponent('anthropic.claude-haiku-4-5-20251001-v1:0')}/invoke`;

/** The AWS variables the chain reads; each test sets what it needs on a clean slate. */
const AWS_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_ENDPOINT_URL_STS',
];
const saved = Object.fromEntries(AWS_VARIABLES.map((name) => [name, process.env[name]]));

const newDir = tempDirs('aibridge-aws-');
let bedrock: FakeBedrock;
let sts: FakeSts;
let files: { credentials: string; config: string; token: string };

beforeAll(async () => {
  bedrock = await FakeBedrock.start({ region: REGION, keys: [PROFILE_KEY, ENV_KEY] });
  bedrock.setDefault('anthropic-messages/text.json');
  sts = await FakeSts.start({
    region: REGION,
    keys: [MASTER],
    roleArn: ROLE,
    externalId: 'ext-1234',
    webIdentityToken: WEB_IDENTITY_TOKEN,
  });
  sts.onIssue = (key) => bedrock.keys.push(key);
  const dir = newDir();
  files = { credentials: join(dir, 'credentials'), config: join(dir, 'config'), token: join(dir, 'token') };
  writeFileSync(
    files.credentials,
    `[default]\n[bridge]\naws_access_key_id = ${PROFILE_KEY.accessKeyId}\naws_secret_access_key = ${PROFILE_KEY.secretAccessKey}\n`,
  );
  writeFileSync(files.config, '');
  writeFileSync(files.token, WEB_IDENTITY_TOKEN);
});

afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await bedrock.close();
  await sts.close();
});

beforeEach(() => {
  for (const name of AWS_VARIABLES) delete process.env[name];
  // No instance metadata service here; the chain must not wait for one.
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  process.env.AWS_SHARED_CREDENTIALS_FILE = files.credentials;
  process.env.AWS_CONFIG_FILE = files.config;
  process.env.AWS_ENDPOINT_URL_STS = sts.url;
  process.env.AWS_REGION = REGION;
  sts.issued.length = 0;
  sts.lifetimeSeconds = 3600;
  bedrock.reset();
});

/** Signs one invoke with `config` and sends it to the fake Bedrock; the key it was signed with. */
async function invoke(signer: BedrockSigner): Promise<string | undefined> {
  const headers = await signer.sign({ method: 'POST', origin: bedrock.url, path: PATH, headers: {}, body: BODY });
  const res = await request(`${bedrock.url}${PATH}`, { method: 'POST', headers, body: BODY });
  const text = await res.body.text();
  expect(res.statusCode, text).toBe(200);
  return bedrock.requests.at(-1)?.accessKeyId;
}

const signerFor = (config: Omit<BedrockCredentialsConfig, 'region'>) =>
  new BedrockSigner({ region: REGION, ...config });

async function credentialsFailure(config: Omit<BedrockCredentialsConfig, 'region'>): Promise<AwsCredentialsError> {
  const err = await bedrockCredentials({ region: REGION, ...config })().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AwsCredentialsError);
  return err as AwsCredentialsError;
}

describe('Bedrock credentials', () => {
  it('come from a profile of the shared credentials file', async () => {
    expect(await invoke(signerFor({ profile: 'bridge' }))).toBe(PROFILE_KEY.accessKeyId);
  });

  it('come from the environment when nothing is configured', async () => {
    process.env.AWS_ACCESS_KEY_ID = ENV_KEY.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = ENV_KEY.secretAccessKey;
    process.env.AWS_SESSION_TOKEN = ENV_KEY.sessionToken;
    expect(await invoke(signerFor({}))).toBe(ENV_KEY.accessKeyId);
  });

  it('come from a web identity token file (EKS service accounts)', async () => {
    process.env.AWS_WEB_IDENTITY_TOKEN_FILE = files.token;
    process.env.AWS_ROLE_ARN = ROLE;
    process.env.AWS_ROLE_SESSION_NAME = 'bridge-pod';
    const used = await invoke(signerFor({}));
    expect(sts.issued).toMatchObject([{ action: 'AssumeRoleWithWebIdentity', sessionName: 'bridge-pod' }]);
    expect(used).toBe(sts.issued[0]?.accessKeyId);
  });

  it('assume role_arn with the configured keys and the external id, once while the credentials last', async () => {
    const signer = signerFor({
      access_key_id: MASTER.accessKeyId,
      secret_access_key: MASTER.secretAccessKey,
      role_arn: ROLE,
      external_id: 'ext-1234',
    });
    const used = await Promise.all([invoke(signer), invoke(signer), invoke(signer)]);
    used.push(await invoke(signer));
    expect(sts.issued).toHaveLength(1);
    expect(sts.issued[0]).toMatchObject({ action: 'AssumeRole', sessionName: 'aibridge' });
    expect(new Set(used)).toEqual(new Set([sts.issued[0]?.accessKeyId]));
  });

  it('assume the role again once the credentials are close to expiry', async () => {
    sts.lifetimeSeconds = 120; // inside the five-minute refresh margin: every use refreshes
    const signer = signerFor({
      access_key_id: MASTER.accessKeyId,
      secret_access_key: MASTER.secretAccessKey,
      role_arn: ROLE,
      external_id: 'ext-1234',
      session_name: 'bridge-1',
    });
    const used = [await invoke(signer), await invoke(signer)];
    expect(sts.issued.map((k) => k.sessionName)).toEqual(['bridge-1', 'bridge-1']);
    expect(used).toEqual(sts.issued.map((k) => k.accessKeyId));
  });

  it('fail with an upstream error, and no secret, when STS refuses the role', async () => {
    const err = await credentialsFailure({
      access_key_id: MASTER.accessKeyId,
      secret_access_key: MASTER.secretAccessKey,
      role_arn: ROLE,
      external_id: 'wrong',
    });
    expect(err.kind).toBe('upstream');
    expect(err.message).toMatch(/AccessDenied/);
    expect(JSON.stringify({ message: err.message, stack: err.stack })).not.toContain(MASTER.secretAccessKey);
  });

  it('fail as not configured when no source has any', async () => {
    const err = await credentialsFailure({});
    expect(err.kind).toBe('not_configured');
    expect(err.message).toMatch(/no AWS credentials found/);
  });

  it('refuse half a key pair', () => {
    expect(() => bedrockCredentials({ region: REGION, access_key_id: 'AKIA' })).toThrow(/go together/);
    expect(() => bedrockCredentials({ region: REGION, secret_access_key: 'x' })).toThrow(/go together/);
  });
});
