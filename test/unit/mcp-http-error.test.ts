import { describe, expect, it } from 'vitest';
import { firstLine, httpErrorText, MAX_REASON } from '../../src/mcp/http-error.ts';

describe("an MCP server's HTTP refusal, as the bridge shows it", () => {
  it('is the status and the first line of what the page says, never the page', () => {
    const page =
      '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n' +
      '<body>\n<pre>Cannot POST /sse</pre>\n</body>\n</html>\n';
    expect(httpErrorText(404, `Streamable HTTP error: Error POSTing to endpoint: ${page}`)).toBe(
      '404 Not Found: Cannot POST /sse',
    );
    const nginx =
      '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>';
    expect(httpErrorText(502, `Streamable HTTP error: Error POSTing to endpoint: ${nginx}`)).toBe('502 Bad Gateway');
  });

  it("takes a JSON-RPC error's message, and says only the status when the body says nothing", () => {
    const body =
      '{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}';
    expect(httpErrorText(400, `Streamable HTTP error: Error POSTing to endpoint: ${body}`)).toBe(
      '400 Bad Request: Bad Request: No valid session ID provided',
    );
    expect(httpErrorText(401, 'Streamable HTTP error: Error POSTing to endpoint: {}')).toBe('401 Unauthorized');
    expect(httpErrorText(503, 'Streamable HTTP error: Error POSTing to endpoint: ')).toBe('503 Service Unavailable');
    expect(httpErrorText(599, 'Streamable HTTP error: Error POSTing to endpoint: odd')).toBe('HTTP 599: odd');
  });

  it('is bounded, however long the line', () => {
    const text = httpErrorText(500, `Error POSTing to endpoint: ${'x'.repeat(100_000)}`);
    expect(text.length).toBeLessThanOrEqual('500 Internal Server Error: '.length + MAX_REASON);
    expect(firstLine('\n\n  first   words \nsecond')).toBe('first words');
  });
});
