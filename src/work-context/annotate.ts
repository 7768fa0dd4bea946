import type { ToolCallResult } from '../mcp/types.ts';
import { recordId } from '../recorder/record-id.ts';
import type { Recorder } from '../recorder/recorder-port.ts';
import type { RecordSanitizer } from '../recorder/sanitize.ts';
import type { AnnotationRecord } from '../store/records.ts';
import type { AuditStore } from '../store/store.ts';
import type { RecentInterceptions } from './recent.ts';
import { parseWorkArgs } from './tool.ts';

/** Who calls annotate_work, and from where. */
export interface WorkCaller {
  userId: string;
  /** The agent's session: its interception's (in the loop), or the one its client sent to `/mcp`. */
  sessionId: string | null;
  /** The interception the call was made in (in the loop); null for a call to `/mcp`. */
  interceptionId: string | null;
  /**
   * From `/mcp`: the id of the model's tool call this MCP call carries out, where the client says
   * (Claude Code sends it in `_meta`): its interception, whatever else the user runs at once.
   */
  toolCallId?: string | null;
}

export interface AnnotatorDeps {
  recorder: Recorder;
  /** The current configuration's (a reload may change the redaction patterns). */
  sanitizer: () => RecordSanitizer;
  audit: Pick<AuditStore, 'list' | 'get' | 'clientToolCall'>;
  recent: RecentInterceptions;
}

export type Annotated = { ok: true; text: string; annotation: AnnotationRecord } | { ok: false; text: string };

/**
 * annotate_work, the one implementation (README "Work context"): the bridge's `/mcp` endpoint and
 * the injected `bmcp_aibridge_annotate_work` both call it. It records an `annotation` (journal
 * first, like every record); the store adds it to its session's work context.
 */
export class Annotator {
  readonly #deps: AnnotatorDeps;

  constructor(deps: AnnotatorDeps) {
    this.#deps = deps;
  }

  async annotate(caller: WorkCaller, rawArgs: unknown): Promise<Annotated> {
    const parsed = parseWorkArgs(rawArgs);
    if ('problems' in parsed) return { ok: false, text: `annotate_work: ${parsed.problems.join('; ')}` };
    const target = await this.#target(caller);
    const annotation: AnnotationRecord = {
      _id: recordId(),
      interception_id: target.interceptionId,
      client_session_id: target.sessionId,
      initiator_id: caller.userId,
      ...parsed.args,
      created_at: new Date(),
    };
    this.#deps.recorder.record(this.#deps.sanitizer().apply({ kind: 'annotation', doc: annotation }));
    return { ok: true, text: describe(annotation), annotation };
  }

  /**
   * The interception and session it attaches to: the caller's own; from `/mcp`, the one whose
   * model made the tool call the client names, else the caller's latest in the session its client
   * names (or latest at all) — this process's memory first, then the store. None found: the session
   * alone (or nothing; the annotation is still recorded).
   */
  async #target(caller: WorkCaller): Promise<{ interceptionId: string | null; sessionId: string | null }> {
    if (caller.interceptionId !== null) return { interceptionId: caller.interceptionId, sessionId: caller.sessionId };
    if (caller.toolCallId) {
      const made = await this.#madeIn(caller.userId, caller.toolCallId);
      if (made) return made;
    }
    const known = this.#deps.recent.latest(caller.userId, caller.sessionId);
    if (known) return known;
    const filter = {
      initiator_id: caller.userId,
      ...(caller.sessionId === null ? {} : { client_session_id: caller.sessionId }),
    };
    const [found] = await this.#deps.audit.list(filter, { limit: 1 }).catch(() => []);
    if (found) return { interceptionId: found.interception._id, sessionId: found.interception.client_session_id };
    return { interceptionId: null, sessionId: caller.sessionId };
  }

  /** The interception in which the user's model made this client tool call. */
  async #madeIn(userId: string, toolCallId: string) {
    const known = this.#deps.recent.called(userId, toolCallId);
    if (known) return known;
    const call = await this.#deps.audit.clientToolCall(userId, toolCallId).catch(() => null);
    if (!call) return undefined;
    const found = await this.#deps.audit.get({ initiator_id: userId }, call.interception_id).catch(() => null);
    return found
      ? { interceptionId: found.interception._id, sessionId: found.interception.client_session_id }
      : undefined;
  }
}

function describe(a: AnnotationRecord): string {
  const parts = [
    a.repo && `repo ${a.repo}`,
    a.branch && `branch ${a.branch}`,
    a.pr_urls.length && `${a.pr_urls.length} pull request${a.pr_urls.length > 1 ? 's' : ''}`,
    a.issue_urls.length && `${a.issue_urls.length} issue${a.issue_urls.length > 1 ? 's' : ''}`,
    a.note && 'a note',
  ].filter(Boolean);
  const where = a.client_session_id ? `session ${a.client_session_id}` : 'your latest request';
  return `Work context recorded for ${where}: ${parts.join(', ')}.`;
}

/** annotate_work as the tool loop calls an injected tool: errors become an error result, never a throw. */
export async function runWorkTool(annotator: Annotator, caller: WorkCaller, args: unknown): Promise<ToolCallResult> {
  const started = performance.now();
  const done = await annotator
    .annotate(caller, args)
    .catch((err: Error): Annotated => ({ ok: false, text: `annotate_work failed: ${err.message}` }));
  return {
    content: [{ type: 'text', text: done.text }],
    isError: !done.ok,
    error: done.ok ? null : done.text,
    durationMs: performance.now() - started,
  };
}
