import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

/**
 * A fetch whose answers stop at `maxBytes` each: one answer from an MCP server (a tool result,
 * a page of tools) may not fill the bridge's memory. A declared length over it is refused
 * before the body is read; a body that grows past it is cut and `onTooLarge` is told, so the
 * caller can end what was waiting on it. The long-lived GET stream of notifications is many
 * small messages, not one answer, and is left alone.
 */
export function boundedFetch(inner: FetchLike, maxBytes: number, onTooLarge: (err: Error) => void): FetchLike {
  return async (url, init) => {
    const response = await inner(url, init);
    if ((init?.method ?? 'GET').toUpperCase() === 'GET' || !response.body) return response;
    const tooLarge = () => new Error(`the MCP server's answer exceeded ${maxBytes} bytes (max_response_bytes)`);
    if (Number(response.headers.get('content-length') ?? 0) > maxBytes) {
      await response.body.cancel().catch(() => {});
      throw tooLarge();
    }
    let seen = 0;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen <= maxBytes) return controller.enqueue(chunk);
          const err = tooLarge();
          controller.error(err);
          onTooLarge(err);
        },
      }),
    );
    return new Response(counted, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
