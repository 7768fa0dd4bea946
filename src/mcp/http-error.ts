import { STATUS_CODES } from 'node:http';

/** Longest error text a server's answer may put in a status line, a log line or /readyz. */
export const MAX_REASON = 160;

const PREFIXES = [/^Streamable HTTP error: /, /^Error POSTing to endpoint: /, /^Failed to open SSE stream: /];

/** Text without its markup: HTML pages (an Express 404, a proxy's 502) keep only what they say. */
function textOf(body: string): string {
  const trimmed = body.trim();
  try {
    // A JSON-RPC error, or any JSON naming a message, says it best.
    const json = JSON.parse(trimmed) as { error?: { message?: unknown } | string; message?: unknown };
    const said = typeof json.error === 'object' ? json.error?.message : (json.error ?? json.message);
    return typeof said === 'string' ? said : '';
  } catch {}
  if (!/^<|<\/?(html|body|pre|h1|p|div|title)\b/i.test(trimmed)) return trimmed;
  return trimmed
    .replace(/<(head|script|style)\b[\s\S]*?<\/\1\s*>/gi, '\n')
    .replace(/<[^>]*>/g, '\n')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The first line that says something, cut to `max` characters. */
export function firstLine(text: string, max = MAX_REASON): string {
  const line =
    text
      .split('\n')
      .map((l) => l.replace(/\s+/g, ' ').trim())
      .find(Boolean) ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * An MCP server's HTTP refusal as people read it: the status and a short first line of what it
 * said (`404 Not Found: Cannot POST /sse`), never its whole page.
 */
export function httpErrorText(status: number, message: string): string {
  let said = message;
  for (const prefix of PREFIXES) said = said.replace(prefix, '');
  const name = STATUS_CODES[status];
  const head = name ? `${status} ${name}` : `HTTP ${status}`;
  const line = firstLine(textOf(said));
  // A page whose first words are its status (nginx's) adds nothing to it.
  return line && line !== name && line !== head ? `${head}: ${line}` : head;
}
