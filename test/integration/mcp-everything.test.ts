import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProxyManager } from '../../src/mcp/server-proxy-manager.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { LogCapture } from '../helpers/bridge.ts';
import { freePort } from '../helpers/ports.ts';
import { NODE, waitForOutput } from '../helpers/process.ts';

/** The reference server, run as its package's bin does, in streamable HTTP mode (PORT env, path /mcp). */
const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');

describe('@modelcontextprotocol/server-everything over streamable HTTP', () => {
  let child: ChildProcess;
  let url: string;
  let manager: ServerProxyManager;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}/mcp`;
    child = spawn(NODE, [EVERYTHING, 'streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: 'pipe' });
    await waitForOutput(child, /listening on port/i, 30_000);
    const logger = createLogger({ level: 'debug', destination: new LogCapture() });
    manager = new ServerProxyManager(
      [{ name: 'everything', url, headers: {}, per_user_credentials: false, call_timeout: '10s' }],
      logger,
    );
    await manager.init();
  });

  afterAll(async () => {
    await manager?.close();
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('lists its tools and calls them through the bridge', async () => {
    expect(manager.status().everything).toMatchObject({ state: 'ready', url, last_error: null });
    const names = manager.tools().map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['bmcp_everything_echo', 'bmcp_everything_get-sum']));
    expect(names).toEqual([...names].sort());
    const echo = manager.sharedBridge().find('bmcp_everything_echo');
    expect(echo?.description).toBe('Echoes back the input string');
    expect(echo?.inputSchema).toMatchObject({ type: 'object', properties: { message: { type: 'string' } } });

    const bridge = manager.sharedBridge();
    const echoed = await bridge.call('bmcp_everything_echo', { message: 'hello from aibridge' });
    expect(echoed).toMatchObject({ isError: false, error: null });
    expect(echoed.content).toEqual([{ type: 'text', text: 'Echo: hello from aibridge' }]);

    const image = await bridge.call('bmcp_everything_get-tiny-image', {});
    expect(image.content.some((c) => c.type === 'image' && c.mimeType === 'image/png' && c.data.length > 0)).toBe(true);

    // Its text block already carries the structured content, so it is not repeated.
    const weather = await bridge.call('bmcp_everything_get-structured-content', { location: 'Chicago' });
    expect(weather.content).toEqual([
      { type: 'text', text: JSON.stringify({ temperature: 36, conditions: 'Light rain / drizzle', humidity: 82 }) },
    ]);

    const resource = await bridge.call('bmcp_everything_get-resource-reference', {
      resourceType: 'Text',
      resourceId: 1,
    });
    expect(resource.isError).toBe(false);
    expect(resource.content.every((c) => c.type === 'text')).toBe(true);
    expect(resource.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n')).toMatch(/\[resource \S+/);

    const invalid = await bridge.call('bmcp_everything_get-sum', { a: 'not a number' });
    expect(invalid.isError).toBe(true);
    expect(invalid.error).toBeTruthy();
  });
});
