// Server-sent events for the agents benchmark: written by its upstream, read back by its client.

export const sse = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

/** The JSON data of each event of a whole stream, in order; comments and blank blocks skipped. */
export function events(text: string): Array<Record<string, any>> {
  const out: Array<Record<string, any>> = [];
  for (const block of text.split('\n\n')) {
    const at = block.indexOf('data: ');
    if (at < 0) continue;
    out.push(JSON.parse(block.slice(at + 6).replace(/\ndata: /g, '\n')));
  }
  return out;
}
