import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { InterceptionDetail } from '../../src/store/store.ts';
import { startTestBridge, type TestBridge } from './bridge.ts';
import { type StoreKind, type TestStore, testStore } from './db.ts';
import { waitUntil } from './process.ts';
import { ReplayUpstream } from './upstream.ts';

export interface Harness {
  store: TestStore;
  upstream: ReplayUpstream;
  bridge: TestBridge;
  token: string;
  userId: string;
  apiKeyId: string;
  anthropic: Anthropic;
  openai: OpenAI;
  /** Every record of the (single or latest) interception, once it has ended. */
  records(): Promise<Records>;
  close(): Promise<void>;
}

export interface Records {
  interception: any;
  prompts: any[];
  tokens: any[];
  tools: any[];
  thoughts: any[];
}

/**
 * The real bridge on a fresh store (the embedded one unless `kind` says otherwise), with an
 * `openai` and an `anthropic` provider on a replaying upstream; `overrides` may be made from the
 * upstream's URL (providers of other kinds, key pools).
 */
export async function startHarness(
  key: string,
  overrides: Record<string, unknown> | ((upstreamUrl: string) => Record<string, unknown>) = {},
  kind: StoreKind = 'embedded',
): Promise<Harness> {
  const store = await testStore(kind, key);
  const upstream = await ReplayUpstream.start();
  const bridge = await startTestBridge(store, {
    providers: [
      { name: 'openai', type: 'openai', base_url: `${upstream.url}/v1`, api_key: 'sk-upstream-openai-key' },
      { name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' },
    ],
    ...(typeof overrides === 'function' ? overrides(upstream.url) : overrides),
  });
  const user = await bridge.user('dev');
  const anthropic = new Anthropic({ baseURL: `${bridge.url}/anthropic`, apiKey: user.token, maxRetries: 0 });
  const openai = new OpenAI({ baseURL: `${bridge.url}/openai/v1`, apiKey: user.token, maxRetries: 0 });
  let seen = 0;
  return {
    store,
    upstream,
    bridge,
    token: user.token,
    userId: user.id,
    apiKeyId: user.apiKeyId,
    anthropic,
    openai,
    async records() {
      let found: InterceptionDetail | undefined;
      await waitUntil(async () => {
        await bridge.ctx.recorder.flush();
        const ended = (await store.audit.list({}, { limit: 1000 })).filter((d) => d.interception.ended_at !== null);
        if (ended.length <= seen) return false;
        found = ended[0];
        return true;
      });
      seen++;
      const detail = found as InterceptionDetail;
      return {
        interception: detail.interception,
        prompts: detail.user_prompts,
        tokens: detail.token_usages,
        tools: detail.tool_usages,
        thoughts: detail.model_thoughts,
      };
    },
    async close() {
      await bridge.close();
      await upstream.close();
      await store.close();
    },
  };
}
