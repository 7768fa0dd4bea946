import { describe, expect, it } from 'vitest';
import { candidates } from '../../src/pricing/resolve.ts';
import { MAX_MODEL_ID_LENGTH, parseModelId, parseModelIdSegment } from '../../src/providers/kinds/bedrock/model-id.ts';

describe('Bedrock model ids', () => {
  it.each([
    ['anthropic.claude-sonnet-4-5-20250929-v1:0', 'foundation-model', 'claude-sonnet-4-5-20250929', undefined],
    ['anthropic.claude-opus-4-6-v1', 'foundation-model', 'claude-opus-4-6', undefined],
    ['anthropic.claude-sonnet-4-6', 'foundation-model', 'claude-sonnet-4-6', undefined],
    ['anthropic.claude-3-sonnet-20240229-v1:0:200k', 'foundation-model', 'claude-3-sonnet-20240229', undefined],
    ['anthropic.claude-v2:1', 'foundation-model', 'claude-v2', undefined],
    ['us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'inference-profile', 'claude-sonnet-4-5-20250929', 'us'],
    ['eu.anthropic.claude-haiku-4-5-20251001-v1:0', 'inference-profile', 'claude-haiku-4-5-20251001', 'eu'],
    ['apac.anthropic.claude-3-5-sonnet-20240620-v1:0', 'inference-profile', 'claude-3-5-sonnet-20240620', 'apac'],
    ['global.anthropic.claude-opus-4-6-v1', 'inference-profile', 'claude-opus-4-6', 'global'],
    ['us-gov.anthropic.claude-3-haiku-20240307-v1:0', 'inference-profile', 'claude-3-haiku-20240307', 'us-gov'],
    // A geography added after this was written, in front of an Anthropic model.
    ['mx.anthropic.claude-sonnet-4-5-20250929-v1:0', 'inference-profile', 'claude-sonnet-4-5-20250929', 'mx'],
  ])('%s is a %s of %s', (id, kind, anthropicModel, geography) => {
    const ref = parseModelId(id);
    expect(ref).toMatchObject({ id, kind, vendor: 'anthropic', anthropicModel });
    expect(ref?.geography).toBe(geography);
  });

  it('names a model the price table resolves', () => {
    const ref = parseModelId('global.anthropic.claude-sonnet-4-5-20250929-v1:0');
    expect(candidates(ref!.anthropicModel!)).toContain('claude-sonnet-4-5');
  });

  it('reads the model out of foundation-model and inference-profile ARNs', () => {
    expect(
      parseModelId('arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0'),
    ).toEqual({
      id: 'arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0',
      kind: 'foundation-model',
      arn: {
        partition: 'aws',
        region: 'us-west-2',
        account: undefined,
        resource: 'anthropic.claude-haiku-4-5-20251001-v1:0',
      },
      vendor: 'anthropic',
      foundationModel: 'anthropic.claude-haiku-4-5-20251001-v1:0',
      anthropicModel: 'claude-haiku-4-5-20251001',
    });
    expect(
      parseModelId(
        'arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0',
      ),
    ).toMatchObject({
      kind: 'inference-profile',
      geography: 'eu',
      arn: { region: 'eu-central-1', account: '123456789012' },
      anthropicModel: 'claude-sonnet-4-5-20250929',
    });
  });

  it('accepts ARNs that do not name their model, without inventing one', () => {
    for (const [id, kind] of [
      [
        'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def456',
        'application-inference-profile',
      ],
      ['arn:aws:bedrock:us-east-1:123456789012:provisioned-model/z8k2m4n6p0q1', 'provisioned-model'],
      [
        'arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:custom-model/anthropic.claude-v2:1/abcdef123456',
        'custom-model',
      ],
    ] as const) {
      const ref = parseModelId(id);
      expect(ref).toMatchObject({ id, kind, arn: { account: '123456789012' } });
      expect(ref?.anthropicModel).toBeUndefined();
    }
  });

  it('keeps other vendors apart', () => {
    expect(parseModelId('amazon.nova-pro-v1:0')).toMatchObject({ vendor: 'amazon', kind: 'foundation-model' });
    expect(parseModelId('amazon.nova-pro-v1:0')?.anthropicModel).toBeUndefined();
    expect(parseModelId('us.meta.llama3-2-1b-instruct-v1:0')).toMatchObject({ vendor: 'meta', geography: 'us' });
  });

  it('decodes path segments however the client encoded them', () => {
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def456';
    expect(parseModelIdSegment(encodeURIComponent(arn))?.id).toBe(arn);
    expect(parseModelIdSegment(arn.replace('/', '%2F'))?.id).toBe(arn);
    expect(parseModelIdSegment('anthropic.claude-sonnet-4-5-20250929-v1%3A0')?.anthropicModel).toBe(
      'claude-sonnet-4-5-20250929',
    );
  });

  it.each([
    '',
    'claude-sonnet-4-5',
    'anthropic.',
    '.anthropic.claude',
    'anthropic.claude..x',
    'anthropic.claude sonnet',
    'anthropic.claude%00',
    'anthropic.claude?x=1',
    'anthropic.claude#x',
    '../../etc/passwd',
    'anthropic/claude',
    'ANTHROPIC.CLAUDE',
    'anthropic.claude-\u00e9',
    'arn:aws:bedrock:us-east-1:123456789012:foundation-model/anthropic.claude-v2',
    'arn:aws:bedrock:us-east-1::application-inference-profile/abc',
    'arn:aws:bedrock:us-east-1:123456789012:agent/abc',
    'arn:aws:s3:::bucket/key',
    'arn:aws:bedrock:us-east-1:12345:application-inference-profile/abc',
    'a'.repeat(MAX_MODEL_ID_LENGTH + 1),
  ])('refuses %j', (id) => {
    expect(parseModelId(id)).toBeNull();
  });

  it('refuses malformed and double-encoded segments', () => {
    expect(parseModelIdSegment('anthropic.claude%ZZ')).toBeNull();
    expect(parseModelIdSegment('anthropic.claude-v2%253A1')).toBeNull();
    expect(parseModelIdSegment('%2E%2E%2F%2E%2E')).toBeNull();
    expect(parseModelIdSegment('x'.repeat(10_000))).toBeNull();
  });
});
