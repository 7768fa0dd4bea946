import type { AnnotationRecord } from './records.ts';
import { type InterceptionFilter, WORK_KEYS, type WorkContext, workKeyOf } from './store.ts';

/** URLs of each kind a work context keeps: the newest ones. */
export const MAX_CONTEXT_URLS = 50;

/** A scalar field is taken from the annotation when it sets it and nothing later has. */
function later(at: Date | null, than: Date): boolean {
  return at === null || than.getTime() >= at.getTime();
}

/** The URLs of both, the annotation's first, without repeats, at most MAX_CONTEXT_URLS. */
function union(newer: readonly string[], older: readonly string[]): string[] {
  return [...new Set([...newer, ...older])].slice(0, MAX_CONTEXT_URLS);
}

/**
 * A work context with one more annotation in it; the same whatever order annotations arrive in
 * (a replayed or late one never overwrites a later repo or branch), and unchanged by one applied
 * twice. Null for an annotation that belongs to no session and no interception.
 */
export function withAnnotation(context: WorkContext | null, a: AnnotationRecord): WorkContext | null {
  const key = workKeyOf(a);
  if (key === null) return null;
  const base: WorkContext = context ?? {
    _id: key,
    initiator_id: a.initiator_id,
    client_session_id: a.client_session_id,
    interception_id: a.client_session_id === null ? a.interception_id : null,
    repo: null,
    branch: null,
    pr_urls: [],
    issue_urls: [],
    repo_at: null,
    branch_at: null,
    updated_at: a.created_at,
  };
  const next: WorkContext = { ...base };
  const newest = a.created_at.getTime() >= base.updated_at.getTime();
  if (a.repo !== null && later(base.repo_at, a.created_at)) {
    next.repo = a.repo;
    next.repo_at = a.created_at;
  }
  if (a.branch !== null && later(base.branch_at, a.created_at)) {
    next.branch = a.branch;
    next.branch_at = a.created_at;
  }
  next.pr_urls = newest ? union(a.pr_urls, base.pr_urls) : union(base.pr_urls, a.pr_urls);
  next.issue_urls = newest ? union(a.issue_urls, base.issue_urls) : union(base.issue_urls, a.issue_urls);
  if (newest) next.updated_at = a.created_at;
  return next;
}

/** Whether a filter names any work-context key. */
export const filtersWork = (filter: InterceptionFilter): boolean => WORK_KEYS.some((k) => filter[k] !== undefined);

/**
 * How a `pr:` or `issue:` value matches a URL: a number (`123`, `#123`) matches URLs whose last
 * path segment it is; anything else must equal a URL whole.
 */
export function urlMatch(value: string): { exact: string } | { number: string } {
  const number = /^#?(\d{1,12})$/.exec(value)?.[1];
  return number === undefined ? { exact: value } : { number };
}
