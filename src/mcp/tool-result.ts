import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ToolResultContent } from './types.ts';

type Block = CallToolResult['content'][number];

function describe(block: Block): ToolResultContent {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: block.text };
    case 'image':
      return { type: 'image', data: block.data, mimeType: block.mimeType };
    case 'audio':
      return { type: 'text', text: `[audio ${block.mimeType}, ${base64Bytes(block.data)} bytes, not shown]` };
    case 'resource_link': {
      const about = [block.mimeType, block.description].filter(Boolean).join('; ');
      return { type: 'text', text: `[resource link ${block.name}: ${block.uri}${about ? ` (${about})` : ''}]` };
    }
    case 'resource': {
      const r = block.resource;
      const head = `[resource ${r.uri}${r.mimeType ? ` (${r.mimeType})` : ''}]`;
      if ('text' in r && typeof r.text === 'string') return { type: 'text', text: `${head}\n${r.text}` };
      const blob = 'blob' in r && typeof r.blob === 'string' ? r.blob : '';
      return { type: 'text', text: `${head} binary, ${base64Bytes(blob)} bytes, not shown` };
    }
    default:
      return { type: 'text', text: `[${(block as { type: string }).type} content, not shown]` };
  }
}

const base64Bytes = (b64: string) => Math.floor((b64.replace(/=+$/, '').length * 3) / 4);

/** True when some text block already carries the structured content as JSON. */
function textCarries(content: ToolResultContent[], structured: unknown): boolean {
  const wanted = JSON.stringify(structured);
  return content.some((c) => {
    if (c.type !== 'text') return false;
    try {
      return JSON.stringify(JSON.parse(c.text)) === wanted;
    } catch {
      return false;
    }
  });
}

/** MCP result → the bridge's content: text and images kept, other kinds described, structuredContent as JSON. */
export function mapToolResult(result: CallToolResult): {
  content: ToolResultContent[];
  isError: boolean;
  error: string | null;
} {
  const content = (result.content ?? []).map(describe);
  const structured = result.structuredContent;
  if (structured !== undefined && !textCarries(content, structured)) {
    content.push({ type: 'text', text: JSON.stringify(structured) });
  }
  const isError = result.isError === true;
  const text = content
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
  return { content, isError, error: isError ? text || 'the tool reported an error' : null };
}

export function errorResult(message: string): { content: ToolResultContent[]; isError: true; error: string } {
  return { content: [{ type: 'text', text: message }], isError: true, error: message };
}
