import { BRIDGE_SERVER, injectedName } from '../mcp/tool-names.ts';

export const ANNOTATE_WORK = 'annotate_work';
/** How annotate_work is offered when injected (annotations.inject): bmcp_aibridge_annotate_work. */
export const INJECTED_ANNOTATE_WORK = injectedName(BRIDGE_SERVER, ANNOTATE_WORK);
/** Where the bridge serves it, as a tool usage records the server. */
export const BRIDGE_MCP_PATH = '/mcp';

/** Bounds on what one call may attach (README "Work context"). */
export const LIMITS = { repo: 256, branch: 256, url: 2048, urls: 20, note: 4096 } as const;

export const ANNOTATE_WORK_DESCRIPTION =
  'Attach work context to this coding session so its audit record says what it was for: the ' +
  'repository (host/owner/name, e.g. github.com/acme/app), the branch, the issue and pull request ' +
  'URLs being worked on, and a short note. Call it once you know them, and again when they change; ' +
  'each field is optional, but give at least one.';

export const ANNOTATE_WORK_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    repo: { type: 'string', maxLength: LIMITS.repo, description: 'Repository, e.g. github.com/acme/app' },
    branch: { type: 'string', maxLength: LIMITS.branch, description: 'Git branch being worked on' },
    issue_urls: {
      type: 'array',
      maxItems: LIMITS.urls,
      items: { type: 'string', maxLength: LIMITS.url },
      description: 'URLs of the issues being worked on',
    },
    pr_urls: {
      type: 'array',
      maxItems: LIMITS.urls,
      items: { type: 'string', maxLength: LIMITS.url },
      description: 'URLs of the pull requests being worked on',
    },
    note: { type: 'string', maxLength: LIMITS.note, description: 'What the work is, in a sentence or two' },
  },
} as const;

/** What one annotate_work call attaches, checked and normalised. */
export interface WorkArgs {
  repo: string | null;
  branch: string | null;
  issue_urls: string[];
  pr_urls: string[];
  note: string | null;
}

// Control characters (C0, DEL, C1) have no place in a name, a branch or a URL.
// biome-ignore lint/suspicious/noControlCharactersInRegex: they are what it finds
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A repository as `host/owner/name` where it was given as a clone URL (https://, ssh://, git@host:),
 * so the same repository is one value to search and group by.
 */
export function normalizeRepo(repo: string): string {
  let out = repo.trim();
  const scp = /^[\w.-]+@([\w.-]+):(?!\/)(.+)$/.exec(out); // git@github.com:acme/app.git
  if (scp) out = `${scp[1]}/${scp[2]}`;
  out = out.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/^[^/@]*@/, '');
  return out.replace(/\/+$/, '').replace(/\.git$/i, '');
}

function text(value: unknown, field: string, max: number, problems: string[]): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    problems.push(`${field} must be a string`);
    return null;
  }
  const trimmed = value.trim();
  if (!trimmed) return null;
  if (trimmed.length > max) problems.push(`${field} is longer than ${max} characters`);
  else if (field !== 'note' && CONTROL.test(trimmed)) problems.push(`${field} contains control characters`);
  return trimmed;
}

function urls(value: unknown, field: string, problems: string[]): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === 'string' ? [value] : value; // a lone URL, as models sometimes send
  if (!Array.isArray(list)) {
    problems.push(`${field} must be an array of URLs`);
    return [];
  }
  if (list.length > LIMITS.urls) problems.push(`${field} has more than ${LIMITS.urls} URLs`);
  const out: string[] = [];
  for (const [i, item] of list.slice(0, LIMITS.urls).entries()) {
    const url = text(item, `${field}[${i}]`, LIMITS.url, problems);
    if (url !== null && !out.includes(url)) out.push(url);
  }
  return out;
}

/** The call's arguments, or every problem with them (the model is told, and may call again). */
export function parseWorkArgs(args: unknown): { args: WorkArgs } | { problems: string[] } {
  if (!args || typeof args !== 'object' || Array.isArray(args)) return { problems: ['arguments must be an object'] };
  const a = args as Record<string, unknown>;
  const problems: string[] = [];
  const repo = text(a.repo, 'repo', LIMITS.repo, problems);
  const parsed: WorkArgs = {
    repo: repo === null ? null : normalizeRepo(repo) || null,
    branch: text(a.branch, 'branch', LIMITS.branch, problems),
    issue_urls: urls(a.issue_urls, 'issue_urls', problems),
    pr_urls: urls(a.pr_urls, 'pr_urls', problems),
    note: text(a.note, 'note', LIMITS.note, problems),
  };
  const empty = !parsed.repo && !parsed.branch && !parsed.note && !parsed.issue_urls.length && !parsed.pr_urls.length;
  if (!problems.length && empty) problems.push('give at least one of repo, branch, issue_urls, pr_urls, note');
  return problems.length ? { problems } : { args: parsed };
}
