import { randomUUID } from 'node:crypto';
import type { InterceptionRecord } from '../../src/recorder/records.ts';

/** An ended OpenAI interception by Codex, for tests that need records in a store; override what matters. */
export function interceptionRecord(fields: Partial<InterceptionRecord> = {}): InterceptionRecord {
  const started = fields.started_at ?? new Date();
  return {
    _id: randomUUID(),
    initiator_id: 'u1',
    api_key_id: 'k1',
    provider: 'openai',
    provider_name: 'openai',
    model: 'gpt-5',
    client: 'Codex',
    user_agent: null,
    client_session_id: null,
    started_at: started,
    ended_at: started,
    status: 'completed',
    cost_usd: null,
    totals: null,
    metadata: {},
    ...fields,
  };
}
