import { describe, expect, it } from 'vitest';
import { NODE, ROOT } from '../helpers/process.ts';

const SCRIPT = `
import { installCrashPolicy } from './src/server/crash-policy.ts';
import { createLogger } from './src/observability/logger.ts';
installCrashPolicy(createLogger(), () => { process.stdout.write('FATAL\\n'); setTimeout(() => process.exit(1), 50); });
setTimeout(() => { throw Object.assign(new Error('too many open files'), { code: 'EMFILE' }); }, 10);
Promise.reject(new Error('nobody awaited this'));
setTimeout(() => { process.stdout.write('STILL SERVING\\n'); throw new Error('a bug'); }, 100);
setInterval(() => {}, 1000);
`;

describe('crash policy', () => {
  it('logs and serves on after an unhandled rejection or a contained I/O error; shuts down on anything else', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(NODE, ['--input-type=module', '-e', SCRIPT], { cwd: ROOT, stdio: 'pipe' });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const code = await new Promise((r) => child.once('exit', r));
    expect(out).toContain('unhandled promise rejection; serving on');
    expect(out).toContain('uncaught EMFILE on one file or connection; serving on');
    expect(out).toContain('STILL SERVING');
    expect(out).toContain('uncaught exception; shutting down');
    expect(out).toContain('FATAL');
    expect(code).toBe(1);
  });
});
