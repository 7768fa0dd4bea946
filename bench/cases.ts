// The requests the benchmarks send: each API blocking and streaming, and a Claude Code-sized body.
import { claudeCodeBody } from './claude-code-body.ts';
import type { Target } from './load.ts';

export interface Case {
  name: string;
  /** The path on the upstream (and on the floor proxy, which forwards paths as they are). */
  upstreamPath: string;
  /** The path on the bridge, under its provider prefix. */
  bridgePath: string;
  body: string;
  /** The request to the bridge at `url` with the token `token`. */
  target(url: string, token: string): Target;
}

const say = 'Say hello';

function bridged(name: string, upstreamPath: string, bridgePath: string, body: unknown): Case {
  const text = JSON.stringify(body);
  return {
    name,
    upstreamPath,
    bridgePath,
    body: text,
    target: (url, token) => ({
      name,
      origin: url,
      path: bridgePath,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'user-agent': 'bench/1' },
      body: text,
    }),
  };
}

const chat = (stream: boolean) => ({ model: 'gpt-4.1', stream, messages: [{ role: 'user', content: say }] });
const responses = (stream: boolean) => ({ model: 'gpt-4.1', input: say, stream });
const messages = (stream: boolean) => ({
  model: 'claude-bench',
  max_tokens: 256,
  stream,
  messages: [{ role: 'user', content: say }],
});

export const CASES: Case[] = [
  bridged('chat-blocking', '/v1/chat/completions', '/openai/v1/chat/completions', chat(false)),
  bridged('chat-streaming', '/v1/chat/completions', '/openai/v1/chat/completions', chat(true)),
  bridged('responses-blocking', '/v1/responses', '/openai/v1/responses', responses(false)),
  bridged('responses-streaming', '/v1/responses', '/openai/v1/responses', responses(true)),
  bridged('messages-blocking', '/v1/messages', '/anthropic/v1/messages', messages(false)),
  bridged('messages-streaming', '/v1/messages', '/anthropic/v1/messages', messages(true)),
  bridged('claude-code-80k', '/v1/messages', '/anthropic/v1/messages', claudeCodeBody({ stream: true })),
];

export const caseNamed = (name: string): Case => CASES.find((c) => c.name === name) as Case;
