import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startTracing, type TracingHandle } from '../../src/observability/tracing.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { type AgentRouter, routeAgents } from './router.ts';
import { type EgressSink, startEgressSink, startTap, type Tap } from './support.ts';

/** What an agent CLI runs against: the bridge with an MCP server, a tap in front of it, a refusing egress proxy. */
export interface Stage {
  h: Harness;
  mcp: TestMcpServer;
  tap: Tap;
  sink: EgressSink;
  router: AgentRouter;
  /** The bridge's spans, when the stage was set with `traces`. */
  spans?: InMemorySpanExporter;
  /** A fresh directory (HOME for one CLI run), removed after the file's tests. */
  home(prefix: string): string;
}

/**
 * Sets the stage for one test file (hooks registered here); fields are filled before the first
 * test. `config` is added to the bridge's configuration; `traces`: the bridge (in this process)
 * traces into `spans`.
 */
export function agentStage(
  key: string,
  config: Record<string, unknown> = {},
  options: { traces?: boolean } = {},
): Stage {
  const homes: string[] = [];
  const stage = {
    home(prefix: string) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      homes.push(dir);
      return dir;
    },
  } as Stage;

  let tracing: TracingHandle | undefined;
  beforeAll(async () => {
    if (options.traces) {
      stage.spans = new InMemorySpanExporter();
      tracing = await startTracing({
        logs: false,
        spanProcessors: [new SimpleSpanProcessor({ exporter: stage.spans })],
      });
    }
    stage.mcp = await startTestMcpServer({ extraTools: 0 });
    stage.h = await startHarness(key, {
      mcp_servers: [{ name: 'test', url: stage.mcp.url, tool_allow_regex: '^echo$' }],
      ...config,
    });
    stage.router = routeAgents(stage.h.upstream);
    stage.tap = await startTap(stage.h.bridge.url);
    stage.sink = await startEgressSink();
  });

  afterAll(async () => {
    await stage.tap?.close();
    await stage.sink?.close();
    await stage.h?.close();
    await stage.mcp?.stop();
    await tracing?.stop();
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  });

  beforeEach(() => {
    stage.h.upstream.reset();
    stage.router.reset();
    stage.tap.reset();
    stage.sink.attempts.length = 0;
  });

  return stage;
}
