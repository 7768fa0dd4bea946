import type { Tool } from '@modelcontextprotocol/sdk/types.js';

export interface Flood {
  /** Pages of tools/list. */
  pages: number;
  /** Tools per page. */
  perPage: number;
  /** Roughly how large each tool's definition is, in bytes (the server: about 375). */
  toolBytes?: number;
  /** Names start with this (default `tool`), then the tool's number, zero-padded: name order is listing order. */
  prefix?: string;
}

/** The name of tool number `n` of a flood. */
export const floodToolName = (n: number, prefix = 'tool') => `${prefix}_${String(n).padStart(7, '0')}`;

/**
 * A hostile server's tools/list (for startTestMcpServer's `listing`): `pages` pages of `perPage`
 * tools, each page made when asked for, so the test process never holds the whole flood.
 */
export function floodListing(flood: Flood): (cursor: string | undefined) => { tools: Tool[]; nextCursor?: string } {
  const bytes = flood.toolBytes ?? 375;
  return (cursor) => {
    const page = cursor === undefined ? 0 : Number(cursor);
    const tools = Array.from({ length: flood.perPage }, (_, i): Tool => {
      const name = floodToolName(page * flood.perPage + i, flood.prefix);
      const schema = { type: 'object' as const, properties: { query: { type: 'string', description: 'What to do.' } } };
      const head = `Tool ${name} of a server that lists far too many. `;
      const filler = Math.max(0, bytes - head.length - JSON.stringify(schema).length - name.length - 40);
      return { name, description: head + 'x'.repeat(filler), inputSchema: schema };
    });
    return { tools, ...(page + 1 < flood.pages ? { nextCursor: String(page + 1) } : {}) };
  };
}
