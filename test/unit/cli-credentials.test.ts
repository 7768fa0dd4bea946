import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitError } from '../../src/cli/common.ts';
import {
  bridgeKey,
  credentialsPath,
  type SavedCredential,
  saveCredential,
  savedToken,
} from '../../src/cli/credentials.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-credentials-');

const credential = (token: string, expiresAt = new Date(Date.now() + 86_400_000)): SavedCredential => ({
  token,
  token_id: 'id',
  name: 'laptop',
  username: 'alice',
  expires_at: expiresAt.toISOString(),
  saved_at: new Date().toISOString(),
});

describe('saved credentials', () => {
  it('live under XDG_CONFIG_HOME, else ~/.config (a relative XDG_CONFIG_HOME is ignored)', () => {
    expect(credentialsPath({ XDG_CONFIG_HOME: '/cfg' })).toBe('/cfg/aibridge/credentials.json');
    expect(credentialsPath({ XDG_CONFIG_HOME: 'relative' })).toMatch(/\.config\/aibridge\/credentials\.json$/);
  });

  it('keep one token per bridge URL, written 0600 through a temporary file', () => {
    const env = { XDG_CONFIG_HOME: tempDir() };
    const path = saveCredential('https://bridge.example.com/', credential('aib_one'), env);
    saveCredential('https://bridge.example.com/team-b', credential('aib_two'), env);
    saveCredential('http://127.0.0.1:4000', credential('aib_three'), env);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(env.XDG_CONFIG_HOME, 'aibridge'))).toEqual(['credentials.json']);
    expect(savedToken('https://BRIDGE.example.com', env)).toBe('aib_one');
    expect(savedToken('https://bridge.example.com/team-b/', env)).toBe('aib_two');
    expect(savedToken('http://127.0.0.1:4000/', env)).toBe('aib_three');
    expect(savedToken('http://127.0.0.1:4001', env)).toBeUndefined();
    expect(bridgeKey('https://bridge.example.com:443//')).toBe('https://bridge.example.com');
    // A new sign-in replaces that bridge's token and keeps the others.
    saveCredential('https://bridge.example.com', credential('aib_four'), env);
    expect(savedToken('https://bridge.example.com', env)).toBe('aib_four');
    expect(savedToken('https://bridge.example.com/team-b', env)).toBe('aib_two');
  });

  it('are not used once expired', () => {
    const env = { XDG_CONFIG_HOME: tempDir() };
    saveCredential('https://bridge.example.com', credential('aib_old', new Date(Date.now() - 1000)), env);
    expect(savedToken('https://bridge.example.com', env)).toBeUndefined();
  });

  it('never overwrite a file aibridge did not write', () => {
    const env = { XDG_CONFIG_HOME: tempDir() };
    const path = saveCredential('https://bridge.example.com', credential('aib_one'), env);
    writeFileSync(path, 'not json');
    expect(savedToken('https://bridge.example.com', env)).toBeUndefined();
    expect(() => saveCredential('https://bridge.example.com', credential('aib_two'), env)).toThrow(ExitError);
    expect(readFileSync(path, 'utf8')).toBe('not json');
    expect(savedToken('not a url', env)).toBeUndefined();
  });
});
