import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_CONFIG } from '../../src/cli/common.ts';
import { openCa, proxyDir } from '../../src/proxy/ca-files.ts';
import { type Finished, NODE, runCli } from '../helpers/process.ts';
import { PROXY_TOKEN, useInterceptingProxy } from '../helpers/proxy.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-proxy-cli-');
const fixture = useInterceptingProxy(tempDir);
// Nothing from the environment the tests run in may point the CLI at a config.
const CLEAN = { AIBRIDGE_CONFIG: undefined, AIBRIDGE_MONGODB_URI: undefined };

function configIn(dir: string): { file: string; dataDir: string } {
  const file = join(dir, 'aibridge.yaml');
  const dataDir = join(dir, 'data');
  writeFileSync(file, JSON.stringify({ data_dir: dataDir }));
  return { file, dataDir };
}

const PEM = /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/;

describe('aibridge proxy ca', () => {
  it('prints the CA certificate, creating the CA under data_dir with a 0600 key', async () => {
    const { file, dataDir } = configIn(tempDir());
    const first = await runCli(['proxy', 'ca', '--config', file], CLEAN);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(PEM);
    expect(first.stdout).toBe(readFileSync(join(dataDir, 'proxy', 'ca.crt'), 'utf8'));
    expect(statSync(join(dataDir, 'proxy', 'ca.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'proxy')).mode & 0o777).toBe(0o700);
    const ca = await openCa({ dir: proxyDir(dataDir) });
    expect(first.stderr).toBe(`AI Bridge proxy CA, SHA-256 ${ca.fingerprint}\n`);
    const again = await runCli(['proxy', 'ca', '--config', file], CLEAN);
    expect(again.stdout).toBe(first.stdout);
  });

  it('run twice at once, prints one and the same CA', async () => {
    const { file } = configIn(tempDir());
    const [a, b] = await Promise.all([
      runCli(['proxy', 'ca', '--config', file], CLEAN),
      runCli(['proxy', 'ca', '--config', file], CLEAN),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.stdout).toMatch(PEM);
    expect(b.stdout).toBe(a.stdout);
  });

  it('without a config stops with exit 2 and creates nothing', async () => {
    const cwd = tempDir();
    const result = await runCli(['proxy', 'ca'], CLEAN, 60_000, cwd);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`aibridge: ${NO_CONFIG}`);
    expect(existsSync(join(cwd, '.data'))).toBe(false);
  });

  it('gives what NODE_EXTRA_CA_CERTS needs: Node’s own fetch with HTTPS_PROXY reaches the bridge', async () => {
    const dir = tempDir();
    const { file, dataDir } = configIn(dir);
    const printed = await runCli(['proxy', 'ca', '--config', file], CLEAN);
    const caFile = join(dir, 'aibridge-ca.pem');
    writeFileSync(caFile, printed.stdout);
    const { proxy } = await fixture.start({ ca: await openCa({ dir: proxyDir(dataDir) }) });
    // How an unmodified Node client is pointed at the bridge: environment only.
    const script = `fetch('https://api.anthropic.com/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[]}' })
      .then((r) => r.json()).then((m) => console.log(m.content[0].text))`;
    const result = await new Promise<Finished>((resolve, reject) => {
      const child = spawn(NODE, ['-e', script], {
        env: {
          PATH: process.env.PATH,
          NODE_USE_ENV_PROXY: '1',
          HTTPS_PROXY: `http://ann:${PROXY_TOKEN}@127.0.0.1:${proxy.address.port}`,
          NODE_EXTRA_CA_CERTS: caFile,
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('Hello! How can I help you today?');
    expect(fixture.bridge.requests.at(-1)).toMatchObject({
      url: '/anthropic/v1/messages',
      facts: { provider: 'anthropic' },
    });
  });
});
