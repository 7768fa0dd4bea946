import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.ts';
import { editTopLevel } from '../../src/intercept/splice.ts';
import { EntraBearer } from '../../src/providers/kinds/azure-openai/entra.ts';
import { azureOpenaiKind } from '../../src/providers/kinds/azure-openai/index.ts';
import { bedrockKind } from '../../src/providers/kinds/bedrock/index.ts';
import { Provider } from '../../src/providers/provider.ts';
import { withAliases } from '../../src/server/model-list.ts';

const LIMITS = validateConfig({}, 'test', {}).limits;
const problems = (doc: unknown): string[] => {
  try {
    validateConfig(doc, 'test', {});
    return [];
  } catch (err) {
    return (err as { problems: string[] }).problems;
  }
};

describe('editTopLevel', () => {
  it('splices a set member into the bytes, leaving everything else as it was', () => {
    const raw = Buffer.from('{"model":"fast", "messages":[{"role":"user","content":"é"}],"stream":true}');
    const out = editTopLevel(raw, { model: 'claude-haiku-4-5' });
    expect(Buffer.isBuffer(out)).toBe(true);
    expect(out.toString()).toBe(
      '{"model":"claude-haiku-4-5", "messages":[{"role":"user","content":"é"}],"stream":true}',
    );
  });

  it('writes the body again when a member goes (Bedrock takes no model or stream)', () => {
    const out = editTopLevel('{"model":"fast","stream":true,"max_tokens":5}', { anthropic_version: 'v' }, [
      'model',
      'stream',
    ]);
    expect(JSON.parse(out.toString())).toEqual({ max_tokens: 5, anthropic_version: 'v' });
  });
});

describe('models lists with aliases', () => {
  it('adds aliases after an OpenAI list’s own models, once', () => {
    const text = JSON.stringify({ object: 'list', data: [{ id: 'gpt-4.1', object: 'model' }, { id: 'fast' }] });
    const merged = JSON.parse(withAliases('openai', text, ['fast', 'smart']) as string);
    expect(merged.data.map((m: { id: string }) => m.id)).toEqual(['gpt-4.1', 'fast', 'smart']);
  });

  it('adds them to an Anthropic list only on its last page', () => {
    const page = (more: boolean) => JSON.stringify({ data: [{ id: 'claude-x' }], has_more: more, last_id: 'claude-x' });
    expect(withAliases('anthropic', page(true), ['fast'])).toBe(page(true));
    const last = JSON.parse(withAliases('anthropic', page(false), ['fast']) as string);
    expect(last.data.at(-1)).toMatchObject({ type: 'model', id: 'fast' });
    expect(last.last_id).toBe('claude-x');
  });

  it('leaves anything that is not a list alone', () => {
    expect(withAliases('openai', 'not json', ['fast'])).toBeUndefined();
    expect(withAliases('openai', '{"error":{}}', ['fast'])).toBeUndefined();
  });
});

describe('configuration', () => {
  const openai = { name: 'openai', type: 'openai', base_url: 'https://api.openai.com/v1', api_key: 'sk-1' };
  const anthropic = { name: 'anthropic', type: 'anthropic', base_url: 'https://api.anthropic.com', api_key: 'x' };

  it('refuses aliases naming unknown providers, mixing API families, or defined twice', () => {
    const found = problems({
      providers: [openai, anthropic],
      models: [
        { alias: 'a', targets: [{ provider: 'nowhere', model: 'm' }] },
        {
          alias: 'b',
          targets: [
            { provider: 'openai', model: 'gpt-4.1' },
            { provider: 'anthropic', model: 'claude-haiku-4-5' },
          ],
        },
        { alias: 'b', targets: [{ provider: 'openai', model: 'gpt-4.1' }] },
      ],
    });
    expect(found).toEqual([
      'models[0].targets[0].provider: no provider is named "nowhere"',
      "models[1].targets: mixes OpenAI-style and Anthropic-style providers; an alias's targets must speak one API",
      'models[2].alias: "b" is defined twice',
    ]);
  });

  it('refuses a bridge token in a pool, a pool beside api_key, and Entra ID beside a key', () => {
    expect(problems({ providers: [{ ...openai, api_keys: ['sk-a', 'aib_bridge-token'] }] })).toEqual([
      expect.stringMatching(/^providers\[0\]\.api_keys\[1\]: is an AI Bridge token/),
      'providers[0].api_keys: set either api_key or api_keys, not both',
    ]);
    expect(
      problems({
        providers: [
          { name: 'az', type: 'azure-openai', base_url: 'https://r.openai.azure.com', api_key: 'k', entra_id: true },
        ],
      }),
    ).toEqual(['providers[0].entra_id: set either entra_id or api_key/api_keys, not both']);
  });

  it('refuses byok on a kind that signs its calls, and unknown byok modes', () => {
    const found = problems({ providers: [{ name: 'b', type: 'bedrock', region: 'us-east-1', byok: 'allowed' }] });
    expect(found).toEqual(['providers[0].byok: is not a known setting']);
    expect(problems({ providers: [{ ...openai, byok: 'sometimes' }] })[0]).toMatch(/^providers\[0\]\.byok: /);
  });

  it('an openai-compatible server may take no key; its headers may not set what the bridge sets', () => {
    const compatible = { name: 'local', type: 'openai-compatible', base_url: 'http://localhost:11434/v1' };
    expect(problems({ providers: [compatible] })).toEqual([]);
    expect(new Provider(validateConfig({ providers: [compatible] }, 't', {}).providers[0]!, LIMITS).hasKey).toBe(true);
    expect(problems({ providers: [{ ...compatible, headers: { Authorization: 'x', 'X-Title': 'ok' } }] })).toEqual([
      'providers[0].headers.Authorization: is set by the bridge itself, or is not a header name',
    ]);
  });
});

describe('the azure-openai kind', () => {
  it('prices a listed deployment as the model it runs, any other by its name', () => {
    const config = { name: 'az', type: 'azure-openai', deployments: [{ name: 'prod', model: 'gpt-4o' }] };
    expect(azureOpenaiKind.priceNames('prod', config)).toEqual(['gpt-4o']);
    expect(azureOpenaiKind.priceNames('gpt-4.1', config)).toEqual(['gpt-4.1']);
  });

  it('sends an alias target to the v1 API; Bedrock gets the model in its URL', () => {
    expect(azureOpenaiKind.retarget('chat', 'prod', false)).toEqual({
      path: '/openai/v1/chat/completions',
      set: { model: 'prod' },
    });
    expect(azureOpenaiKind.retarget('messages', 'prod', false)).toBeUndefined();
    expect(bedrockKind.retarget('messages', 'arn:aws:bedrock:x:1:p/a', true)).toEqual({
      path: '/model/arn%3Aaws%3Abedrock%3Ax%3A1%3Ap%2Fa/invoke-with-response-stream',
      set: { anthropic_version: 'bedrock-2023-05-31' },
      remove: ['model', 'stream'],
    });
  });

  it('takes a resource endpoint given with /openai as the endpoint itself', () => {
    const p = new Provider(
      { name: 'az', type: 'azure-openai', base_url: 'https://r.openai.azure.com/openai/', api_key: 'k' },
      LIMITS,
    );
    expect(p.basePath).toBe('');
  });
});

describe('Microsoft Entra ID tokens', () => {
  it('asks for the Azure OpenAI scope once, and reuses the token until shortly before it expires', async () => {
    const asked: string[] = [];
    let n = 0;
    const bearer = new EntraBearer('az', {
      async getToken(scope) {
        asked.push(scope);
        n++;
        return { token: `token-${n}`, expiresOnTimestamp: Date.now() + (n === 1 ? 3_600_000 : 60_000) };
      },
    });
    const call = { method: 'POST', path: '/', headers: {} as Record<string, string | string[]> };
    await Promise.all([bearer.apply(call), bearer.apply(call)]);
    expect(call.headers.authorization).toBe('Bearer token-1');
    expect(asked).toEqual(['https://cognitiveservices.azure.com/.default']);
    await bearer.apply(call);
    expect(asked).toHaveLength(1);
  });

  it('a failed token request is an error the client hears without the library’s words', async () => {
    const bearer = new EntraBearer('az', {
      async getToken() {
        throw new Error('EnvironmentCredential: AZURE_CLIENT_SECRET=hunter2 rejected');
      },
    });
    const err = await bearer.token().catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'provider "az" could not get a Microsoft Entra ID token; the bridge\'s operator can find why in its log',
    );
    expect((err as { detail: string }).detail).toContain('EnvironmentCredential');
  });
});
