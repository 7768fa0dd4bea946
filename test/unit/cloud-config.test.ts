import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../src/config/load.ts';
import { bedrockKind } from '../../src/providers/kinds/bedrock/index.ts';
import { vertexKind } from '../../src/providers/kinds/vertex/index.ts';
import { Provider } from '../../src/providers/provider.ts';

/** The `bedrock` and `vertex` entries of `providers` (README "Configuration"). */

function problemsOf(...providers: Record<string, unknown>[]): string[] {
  try {
    validateConfig({ providers }, 'test', {});
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

const LIMITS = validateConfig({}, 'test', {}).limits;

describe('a bedrock provider', () => {
  const bedrock = (settings: Record<string, unknown> = {}) => ({
    name: 'bedrock',
    type: 'bedrock',
    region: 'us-east-1',
    ...settings,
  });

  it('needs only a region; keys, a profile or a role are optional', () => {
    expect(problemsOf(bedrock())).toEqual([]);
    expect(problemsOf(bedrock({ profile: 'bridge' }))).toEqual([]);
    expect(problemsOf(bedrock({ access_key_id: 'AKIA1', secret_access_key: 's', session_token: 't' }))).toEqual([]);
    expect(
      problemsOf(bedrock({ role_arn: 'arn:aws:iam::123456789012:role/r', external_id: 'x', session_name: 'bridge-1' })),
    ).toEqual([]);
    // `${VAR:-}` left empty means unset.
    expect(problemsOf(bedrock({ access_key_id: '', secret_access_key: '', role_arn: '' }))).toEqual([]);
  });

  it('names what is wrong, by path', () => {
    expect(problemsOf({ name: 'b', type: 'bedrock' })).toEqual([expect.stringMatching(/^providers\[0\].*region/)]);
    expect(problemsOf(bedrock({ region: 'US East' }))).toEqual([expect.stringMatching(/^providers\[0\]\.region: /)]);
    expect(problemsOf(bedrock({ api_key: 'x' }))).toEqual([expect.stringMatching(/^providers\[0\].*api_key/)]);
    expect(problemsOf(bedrock({ access_key_id: 'AKIA1' }))).toEqual([
      'providers[0].secret_access_key: access_key_id and secret_access_key go together: set both or neither',
    ]);
    expect(problemsOf(bedrock({ session_token: 't' }))).toEqual([
      'providers[0].session_token: is used only with access_key_id and secret_access_key',
    ]);
    expect(problemsOf(bedrock({ profile: 'p', access_key_id: 'a', secret_access_key: 's' }))).toEqual([
      'providers[0].profile: set either a profile or access_key_id/secret_access_key, not both',
    ]);
    expect(problemsOf(bedrock({ external_id: 'x' }))).toEqual(['providers[0].external_id: is used only with role_arn']);
    expect(problemsOf(bedrock({ role_arn: 'not-an-arn' }))).toEqual([
      expect.stringMatching(/^providers\[0\]\.role_arn: /),
    ]);
  });

  it("defaults to the region's runtime endpoint", async () => {
    const provider = new Provider(bedrock({ region: 'eu-west-3' }) as never, LIMITS);
    expect(provider.origin).toBe('https://bedrock-runtime.eu-west-3.amazonaws.com');
    expect(provider.basePath).toBe('');
    await provider.close();
  });

  it('prints the environment that points Claude Code at it', () => {
    expect(bedrockKind.clientSetup('http://127.0.0.1:4000', bedrock({ name: 'aws' }), 'aib_T')).toEqual([
      'Claude Code on Bedrock (provider "aws"):',
      '  export CLAUDE_CODE_USE_BEDROCK=1',
      '  export ANTHROPIC_BEDROCK_BASE_URL=http://127.0.0.1:4000/aws',
      '  export CLAUDE_CODE_SKIP_BEDROCK_AUTH=1',
      '  export AWS_BEARER_TOKEN_BEDROCK=aib_T',
      '  export AWS_REGION=us-east-1',
    ]);
  });
});

describe('a vertex provider', () => {
  const vertex = (settings: Record<string, unknown> = {}) => ({
    name: 'vertex',
    type: 'vertex',
    project: 'my-project',
    region: 'us-east5',
    ...settings,
  });

  it('needs a project and a region (global and multi-regions too)', () => {
    for (const region of ['us-east5', 'europe-west1', 'global', 'us', 'eu']) {
      expect(problemsOf(vertex({ region })), region).toEqual([]);
    }
    expect(problemsOf(vertex({ credentials_file: '/etc/aibridge/sa.json' }))).toEqual([]);
    expect(problemsOf({ name: 'v', type: 'vertex', region: 'us-east5' })).toEqual([
      expect.stringMatching(/^providers\[0\].*project/),
    ]);
    expect(problemsOf(vertex({ project: 'My Project/../x' }))).toEqual([
      expect.stringMatching(/^providers\[0\]\.project: /),
    ]);
    expect(problemsOf(vertex({ region: 'us-east5/../x' }))).toEqual([
      expect.stringMatching(/^providers\[0\]\.region: /),
    ]);
  });

  it("sends every call under the configured project's models, at the location's endpoint", () => {
    const at = (settings: Record<string, unknown>) => {
      const p = new Provider(vertex(settings) as never, LIMITS);
      void p.close();
      return `${p.origin}${p.basePath}`;
    };
    const models = (location: string) => `/v1/projects/my-project/locations/${location}/publishers/anthropic/models`;
    expect(at({})).toBe(`https://us-east5-aiplatform.googleapis.com${models('us-east5')}`);
    expect(at({ region: 'global' })).toBe(`https://aiplatform.googleapis.com${models('global')}`);
    expect(at({ region: 'eu' })).toBe(`https://aiplatform.eu.rep.googleapis.com${models('eu')}`);
    expect(at({ base_url: 'https://vertex.internal/v1' })).toBe(`https://vertex.internal${models('us-east5')}`);
  });

  it('prints the environment that points Claude Code at it', () => {
    expect(vertexKind.clientSetup('http://127.0.0.1:4000', vertex({ name: 'gcp' }), 'aib_T')).toEqual([
      'Claude Code on Vertex AI (provider "gcp"):',
      '  export CLAUDE_CODE_USE_VERTEX=1',
      '  export ANTHROPIC_VERTEX_BASE_URL=http://127.0.0.1:4000/gcp/v1',
      '  export CLAUDE_CODE_SKIP_VERTEX_AUTH=1',
      '  export ANTHROPIC_VERTEX_PROJECT_ID=my-project',
      '  export CLOUD_ML_REGION=us-east5',
      '  export ANTHROPIC_AUTH_TOKEN=aib_T',
    ]);
  });
});
