import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { Store } from '../../src/store/mongo.ts';
import { COLLECTIONS } from '../../src/store/mongo.ts';
import { startTestBridge, type TestBridge } from './bridge.ts';
import { testStore } from './db.ts';
import { waitUntil } from './process.ts';
import { ReplayUpstream } from './upstream.ts';

export interface Harness {
  store: Store;
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

/** The real bridge on a fresh database, with an `openai` and an `anthropic` provider on a replaying upstream. */
export async function startHarness(key: string, overrides: Record<string, unknown> = {}): Promise<Harness> {
  const store = await testStore(key);
  const upstream = await ReplayUpstream.start();
  const bridge = await startTestBridge(store, {
    providers: [
      { name: 'openai', type: 'openai', base_url: `${upstream.url}/v1`, api_key: 'sk-upstream-openai-key' },
      { name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' },
    ],
    ...overrides,
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
      const db = store.db;
      let interception: any;
      await waitUntil(async () => {
        await bridge.ctx.recorder.flush();
        const ended = await db
          .collection(COLLECTIONS.interceptions)
          .find({ ended_at: { $ne: null } })
          .sort({ started_at: -1 })
          .toArray();
        if (ended.length <= seen) return false;
        interception = ended[0];
        return true;
      });
      seen++;
      const find = (name: string) =>
        db.collection(name).find({ interception_id: interception._id }).sort({ created_at: 1 }).toArray();
      return {
        interception,
        prompts: await find(COLLECTIONS.userPrompts),
        tokens: await find(COLLECTIONS.tokenUsages),
        tools: await find(COLLECTIONS.toolUsages),
        thoughts: await find(COLLECTIONS.modelThoughts),
      };
    },
    async close() {
      await bridge.close();
      await upstream.close();
      await store.close();
    },
  };
}
