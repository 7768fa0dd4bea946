import { present } from '../present.ts';
import type { ToolUsageRecord } from '../records.ts';
import type {
  Cursor,
  InterceptionDetail,
  InterceptionFilter,
  Listed,
  PageRequest,
  SessionSummary,
  ToolSummary,
  UsageGroup,
  UsageKey,
} from '../store.ts';
import type { Details } from './details.ts';
import { where } from './filter.ts';
import type { Sync } from './protocol.ts';
import type { Sql } from './sql.ts';
import { clientToolCall } from './tool-calls.ts';
import { countInterceptions, summarizeUsage } from './usage.ts';

/** The audit's reads: pages, counts, usage, sessions and tools over the interceptions. */
export class EmbeddedAudit implements Sync<'audit'> {
  readonly #sql: Sql;
  readonly #details: Details;

  constructor(sql: Sql, details: Details) {
    this.#sql = sql;
    this.#details = details;
  }

  cursor(filter: InterceptionFilter, id: string): Cursor | null {
    const w = where(filter, undefined, ['id = ?']);
    const row = this.#sql.get(`SELECT started_at FROM interceptions ${w.sql}`, [id, ...w.params]);
    return row ? { _id: id, started_at: new Date(row.started_at as number) } : null;
  }

  list(filter: InterceptionFilter, page: PageRequest): InterceptionDetail[] {
    return this.#details.expand(this.#details.page('doc', filter, page));
  }

  listJson(filter: InterceptionFilter, page: PageRequest): string {
    return JSON.stringify(this.list(filter, page).map(present));
  }

  count(filter: InterceptionFilter): number {
    return this.#sql.snapshot(() => countInterceptions(this.#sql.query, filter));
  }

  get(filter: InterceptionFilter, id: string): InterceptionDetail | null {
    const w = where(filter, undefined, ['id = ?']);
    return this.#details.expand(this.#sql.all(`SELECT doc FROM interceptions ${w.sql}`, [id, ...w.params]))[0] ?? null;
  }

  distinct(field: 'model' | 'client', filter: InterceptionFilter): string[] {
    const w = where(filter, undefined, [`${field} <> ''`]);
    return this.#sql
      .all(`SELECT DISTINCT ${field} AS v FROM interceptions ${w.sql} ORDER BY v`, w.params)
      .map((r) => r.v as string);
  }

  usage(filter: InterceptionFilter, groupBy: readonly UsageKey[]): UsageGroup[] {
    return this.#sql.snapshot(() => summarizeUsage(this.#sql.query, filter, groupBy));
  }

  sessions(filter: InterceptionFilter, page: { limit: number; offset?: number }): Listed<SessionSummary> {
    const w = where(filter, undefined, ['client_session_id IS NOT NULL']);
    // The latest turn's end: the row of the session that started last (its index is (session, started_at, id)).
    const rows = this.#sql.all(
      `SELECT g.*, (SELECT ended_at FROM interceptions i
           WHERE i.client_session_id = g.client_session_id AND i.initiator_id = g.initiator_id
             AND i.started_at = g.last_started_at ORDER BY i.id DESC LIMIT 1) AS last_ended_at
       FROM (SELECT client_session_id, initiator_id, max(client) AS client, min(started_at) AS first_started_at,
           max(started_at) AS last_started_at, count(*) AS interceptions,
           total(input_tokens) AS input_tokens, total(output_tokens) AS output_tokens,
           total(cache_read_input_tokens) AS cache_read_input_tokens,
           total(cache_write_input_tokens) AS cache_write_input_tokens, sum(cost_usd) AS cost_usd
         FROM interceptions ${w.sql}
         GROUP BY client_session_id, initiator_id
         ORDER BY last_started_at DESC, client_session_id DESC LIMIT ? OFFSET ?) g
       ORDER BY g.last_started_at DESC, g.client_session_id DESC`,
      [...w.params, page.limit, page.offset ?? 0],
    );
    const counted = this.#sql.get(
      `SELECT count(*) AS n FROM (SELECT 1 FROM interceptions ${w.sql} GROUP BY client_session_id, initiator_id)`,
      w.params,
    );
    return {
      count: (counted?.n as number) ?? 0,
      results: rows.map((r) => ({
        client_session_id: r.client_session_id as string,
        initiator_id: r.initiator_id as string,
        client: r.client as string,
        first_started_at: new Date(r.first_started_at as number),
        last_started_at: new Date(r.last_started_at as number),
        last_ended_at: r.last_ended_at === null ? null : new Date(r.last_ended_at as number),
        interceptions: r.interceptions as number,
        input_tokens: r.input_tokens as number,
        output_tokens: r.output_tokens as number,
        cache_read_input_tokens: r.cache_read_input_tokens as number,
        cache_write_input_tokens: r.cache_write_input_tokens as number,
        cost_usd: r.cost_usd as number | null,
      })),
    };
  }

  tools(filter: InterceptionFilter, limit: number): Listed<ToolSummary> {
    const w = where(filter);
    // count(*) OVER () counts the groups before LIMIT keeps the first of them.
    const rows = this.#sql.all(
      `SELECT doc ->> '$.tool' AS tool, doc ->> '$.server_url' AS server_url,
         doc ->> '$.metadata.server' AS server, doc ->> '$.injected' AS injected,
         count(*) AS calls, total(doc ->> '$.invocation_error' IS NOT NULL) AS failed,
         total(doc ->> '$.duration_ms') AS duration_ms, count(doc ->> '$.duration_ms') AS timed,
         count(*) OVER () AS groups
       FROM tool_usages WHERE interception_id IN (SELECT id FROM interceptions ${w.sql})
       GROUP BY 1, 2, 3, 4 ORDER BY calls DESC, tool LIMIT ?`,
      [...w.params, limit],
    );
    return {
      count: (rows[0]?.groups as number | undefined) ?? 0,
      results: rows.map((r) => ({
        tool: r.tool as string,
        server_url: (r.server_url as string | null) ?? null,
        server: (r.server as string | null) ?? null,
        injected: r.injected === 1,
        calls: r.calls as number,
        failed: r.failed as number,
        duration_ms: r.duration_ms as number,
        timed: r.timed as number,
      })),
    };
  }

  clientToolCall(initiatorId: string, toolCallId: string, before?: Date): ToolUsageRecord | null {
    return clientToolCall(this.#sql, initiatorId, toolCallId, before);
  }

  spend(userId: string, since: Date): number {
    // From `since` on, inclusive; unpriced interceptions add nothing.
    return this.usage({ initiator_id: userId, started_after: new Date(since.getTime() - 1) }, [])[0]?.cost_usd ?? 0;
  }
}
