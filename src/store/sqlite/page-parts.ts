import { present } from '../present.ts';
import type { Cursor, InterceptionFilter, PageRequest } from '../store.ts';
import type { Details } from './details.ts';
import type { Sync } from './protocol.ts';
import { idList, type Sql } from './sql.ts';

/** A large audit page, picked first and rendered in parts by whichever readers are free (pages.ts). */
export interface PageParts {
  /** The page's ids, and its last row as the cursor of the page after it. */
  ids(filter: InterceptionFilter, page: PageRequest): Promise<{ ids: string[]; last: Cursor | null }>;
  /** These interceptions, in this order, as the audit API's JSON array. */
  json(ids: string[]): Promise<string>;
}

export class EmbeddedPageParts implements Sync<'pages'> {
  readonly #sql: Sql;
  readonly #details: Details;

  constructor(sql: Sql, details: Details) {
    this.#sql = sql;
    this.#details = details;
  }

  ids(filter: InterceptionFilter, page: PageRequest): { ids: string[]; last: Cursor | null } {
    const rows = this.#details.page('id, started_at', filter, page);
    const last = rows.at(-1);
    return {
      ids: rows.map((row) => row.id as string),
      last: last ? { _id: last.id as string, started_at: new Date(last.started_at as number) } : null,
    };
  }

  json(ids: string[]): string {
    const rows = this.#sql.all('SELECT id, doc FROM interceptions WHERE id IN (SELECT value FROM json_each(?))', [
      idList(ids),
    ]);
    const byId = new Map(rows.map((row) => [row.id, row]));
    const ordered = ids.map((id) => byId.get(id)).filter((row) => row !== undefined);
    return JSON.stringify(this.#details.expand(ordered).map(present));
  }
}
