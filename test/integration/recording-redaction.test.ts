import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { runCli } from '../helpers/process.ts';

// Assembled from parts so no file of the project holds a whole secret-looking string.
const PROVIDER_KEY = ['sk', 'proj', 'TESTONLY'.repeat(5)].join('-');
const GITHUB_TOKEN = `ghp_${'T3st'.repeat(9)}`;
const PEM = [
  '-----BEGIN RSA PRIVATE KEY-----',
  `MIIEowIBAAKCAQEA${'x'.repeat(60)}`,
  '-----END RSA PRIVATE KEY-----',
].join('\n');
const TOOL_OUTPUT = `config dump:\nOPENAI_API_KEY=${PROVIDER_KEY}\ntoken: ${GITHUB_TOKEN}\n${PEM}\n`;
const SECRETS = [PROVIDER_KEY, GITHUB_TOKEN, 'MIIEowIBAAKCAQEA', 'hunter2'];

let h: Harness;
let mcp: TestMcpServer;

beforeAll(async () => {
  // The echo tool "leaks" secrets whatever it is asked.
  mcp = await startTestMcpServer({ extraTools: 0, answers: { echo: TOOL_OUTPUT } });
  h = await startHarness('recording-redaction', {
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
    recording: { max_field_bytes: '1KiB', redact: ['(?i)password=\\S+'] },
  });
});
afterAll(async () => {
  await h.close();
  await mcp.stop();
});
beforeEach(() => h.upstream.reset());

const ask = (content: string) =>
  h.anthropic.messages.create({ model: 'claude-test-1', max_tokens: 256, messages: [{ role: 'user', content }] });

const expectNoSecrets = (text: string) => {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
};

describe('recorded text', () => {
  it('is redacted in the store, the audit API and the CLI export, while the model gets the real text', async () => {
    h.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    await ask(`Echo something. PASSWORD=hunter2 and my key ${PROVIDER_KEY}`);

    // The upstream got everything unredacted: the prompt, and the tool result.
    const [first, second] = h.upstream.requests as [any, any];
    expect(first.json.messages[0].content).toBe(`Echo something. PASSWORD=hunter2 and my key ${PROVIDER_KEY}`);
    expect(second.json.messages.at(-1).content[0]).toMatchObject({
      type: 'tool_result',
      content: [{ type: 'text', text: TOOL_OUTPUT }],
    });

    const r = await h.records();
    const redactedOutput = 'config dump:\nOPENAI_API_KEY=[REDACTED]\ntoken: [REDACTED]\n[REDACTED]\n';
    expect(r.tools[0]).toMatchObject({ tool: 'echo', injected: true, output: redactedOutput });
    expect(r.prompts[0].prompt).toBe('Echo something. [REDACTED] and my key [REDACTED]');
    expectNoSecrets(JSON.stringify(r));

    const res = await fetch(`${h.bridge.url}/api/v2/aibridge/interceptions/${r.interception._id}`, {
      headers: { authorization: `Bearer ${h.token}` },
    });
    const audited = await res.text();
    expect(res.status).toBe(200);
    expectNoSecrets(audited);
    expect(JSON.parse(audited).tool_usages[0].output).toBe(redactedOutput);

    const exported = await runCli(['interceptions', 'list', '--initiator', 'me'], {
      AIBRIDGE_URL: h.bridge.url,
      AIBRIDGE_SESSION_TOKEN: h.token,
    });
    expect(exported.code, exported.stderr).toBe(0);
    expectNoSecrets(exported.stdout);
    const listed = JSON.parse(exported.stdout).find((i: { id: string }) => i.id === r.interception._id);
    expect(listed.tool_usages[0].output).toBe(redactedOutput);
  });

  it('longer than max_field_bytes is cut at a character boundary and marked', async () => {
    h.upstream.enqueue('anthropic-messages/text.json');
    const prompt = `${'é'.repeat(700)} the end`;
    await ask(prompt);
    expect(h.upstream.requests[0]!.json.messages[0].content).toBe(prompt);
    const r = await h.records();
    expect(r.prompts[0]).toMatchObject({
      prompt: 'é'.repeat(512), // 1 KiB of two-byte characters
      truncated: true,
      original_bytes: { prompt: Buffer.byteLength(prompt) },
    });
  });
});
