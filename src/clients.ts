import type { IncomingHttpHeaders } from 'node:http';

export const CLIENTS = [
  'Claude Code',
  'Codex',
  'Zed',
  'GitHub Copilot (VS Code)',
  'GitHub Copilot (CLI)',
  'Kilo Code',
  'Mux',
  'Roo Code',
  'Cursor',
  'Unknown',
] as const;
export type ClientName = (typeof CLIENTS)[number];

const USER_AGENT_PREFIXES: Array<[string, ClientName]> = [
  ['claude', 'Claude Code'],
  ['codex', 'Codex'],
  ['zed/', 'Zed'],
  ['githubcopilotchat/', 'GitHub Copilot (VS Code)'],
  ['copilot/', 'GitHub Copilot (CLI)'],
  ['kilo-code/', 'Kilo Code'],
  ['mux/', 'Mux'],
  ['roo-code/', 'Roo Code'],
];

const ORIGINATORS: Record<string, ClientName> = { 'kilo-code': 'Kilo Code', 'roo-code': 'Roo Code' };

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/** Which agent sent this request, from its User-Agent and the headers some agents add. */
export function classifyClient(headers: IncomingHttpHeaders): ClientName {
  const originator = first(headers.originator)?.toLowerCase();
  if (originator && ORIGINATORS[originator]) return ORIGINATORS[originator];
  if (headers['x-cursor-client-version']) return 'Cursor';
  const agent = (headers['user-agent'] ?? '').toLowerCase();
  for (const [prefix, name] of USER_AGENT_PREFIXES) if (agent.startsWith(prefix)) return name;
  if (originator?.startsWith('codex')) return 'Codex';
  return 'Unknown';
}

/** The agent's own session id, where it sends one (header, or Claude Code's metadata.user_id). */
export function clientSessionId(headers: IncomingHttpHeaders, body: Record<string, unknown>): string | null {
  const header =
    first(headers['x-claude-code-session-id']) ??
    first(headers['session_id']) ??
    first(headers['session-id']) ??
    first(headers['x-session-id']);
  if (header) return header;
  const userId = (body.metadata as { user_id?: unknown } | undefined)?.user_id;
  if (typeof userId === 'string') {
    // Claude Code sends "user_<hash>_account_<id>_session_<uuid>" (or JSON with session_id).
    const match = /session_([0-9a-f-]{36})/i.exec(userId);
    if (match) return match[1] as string;
    try {
      const parsed = JSON.parse(userId) as { session_id?: unknown };
      if (typeof parsed.session_id === 'string') return parsed.session_id;
    } catch {}
  }
  return null;
}
