// biome-ignore-all lint/suspicious/noTemplateCurlyInString: a test of ${VAR} in the config
import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../src/config/load.ts';
import { OidcError } from '../../src/identity/oidc/errors.ts';
import {
  claimsToIdentity,
  groupsFrom,
  MAX_GROUPS,
  normaliseUsername,
  roleFor,
  usernameCandidates,
} from '../../src/identity/oidc/identity.ts';

function problemsOf(doc: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig(doc, 'test', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const SETTINGS = { groups_claim: 'groups', roles: { owner: ['platform-admins'], auditor: ['security'] } };
const ISS = 'https://login.example.com';

describe('auth.oidc configuration', () => {
  it('takes the documented shape and fills its defaults', () => {
    const config = validateConfig(
      {
        auth: {
          oidc: {
            issuer: ISS,
            client_id: 'aibridge',
            client_secret: '${SECRET}',
            roles: { owner: ['platform-admins'] },
          },
        },
      },
      'test',
      { SECRET: 's3cret' },
    );
    expect(config.auth.oidc).toEqual({
      issuer: ISS,
      client_id: 'aibridge',
      client_secret: 's3cret',
      token_endpoint_auth_method: 'client_secret_basic',
      groups_claim: 'groups',
      roles: { owner: ['platform-admins'] },
      clock_tolerance: '30s',
    });
    expect(validateConfig({}, 'test', {}).auth.oidc).toBeUndefined();
  });

  it('names each problem by its path', () => {
    expect(problemsOf({ auth: { oidc: { issuer: ISS, client_id: 'x', client_secret: '${UNSET}' } } })).toEqual([
      'auth.oidc.client_secret: must not be empty',
    ]);
    expect(problemsOf({ auth: { oidc: { issuer: 'ftp://x', client_id: 'x', client_secret: 'y' } } })).toEqual([
      'auth.oidc.issuer: must be an http:// or https:// URL',
    ]);
    expect(
      problemsOf({ auth: { oidc: { issuer: ISS, client_id: 'x', client_secret: 'y', roles: { admin: ['a'] } } } }),
    ).toEqual(['auth.oidc.roles.admin: is not a known setting']);
    expect(
      problemsOf({ auth: { oidc: { issuer: ISS, client_id: 'x', client_secret: 'y', clock_tolerance: '5 minutes' } } }),
    ).toContain('auth.oidc.clock_tolerance: must be 0 or a duration in ms, s, m or h (like 1h)');
  });

  it('refuses a plain-http issuer except on this machine', () => {
    const oidc = (issuer: string) => ({ auth: { oidc: { issuer, client_id: 'x', client_secret: 'y' } } });
    expect(problemsOf(oidc('http://login.example.com'))).toEqual([
      'auth.oidc.issuer: must be an https URL (plain http only on a loopback address)',
    ]);
    expect(problemsOf(oidc('http://127.0.0.1:8080'))).toEqual([]);
    expect(problemsOf(oidc('http://[::1]:8080/realms/x'))).toEqual([]);
    expect(problemsOf(oidc('http://localhost:8080'))).toEqual([]);
    expect(problemsOf(oidc('https://login.example.com/?tenant=1'))).toEqual([
      'auth.oidc.issuer: must not have a query or fragment',
    ]);
  });
});

describe('usernames from claims', () => {
  it('normalises a claim into a bridge username', () => {
    expect(normaliseUsername('Alice')).toBe('alice');
    expect(normaliseUsername('alice.smith@corp.example.com')).toBe('alice.smith');
    expect(normaliseUsername('José Núñez')).toBe('jose-nunez');
    expect(normaliseUsername('  --Bob__  ')).toBe('bob');
    expect(normaliseUsername('a@b@corp.example')).toBe('a-b');
    expect(normaliseUsername('x'.repeat(100))).toHaveLength(64);
    expect(normaliseUsername('ME')).toBeUndefined(); // `me` names the caller in the API
    expect(normaliseUsername('0b5c2f1e-77a4-4d3e-b0c6-5e9d8a1f2c34')).toBeUndefined(); // would look like an id
    expect(normaliseUsername('@@@')).toBeUndefined();
    expect(normaliseUsername('日本')).toBeUndefined();
  });

  it('resolves a clash by a numbered suffix, the same way every time, within 64 characters', () => {
    const first = [...usernameCandidates('alice', () => 'r')];
    expect(first.slice(0, 3)).toEqual(['alice', 'alice-2', 'alice-3']);
    expect(first).toHaveLength(100);
    expect(first.at(-2)).toBe('alice-99');
    expect(first.at(-1)).toBe('alice-r');
    expect(new Set(first).size).toBe(100);
    const long = [...usernameCandidates('a'.repeat(64), () => 'f00d')];
    expect(long.every((name) => name.length <= 64)).toBe(true);
    expect(long[1]).toBe(`${'a'.repeat(62)}-2`);
  });
});

describe('claimsToIdentity', () => {
  it('maps the usual claims, with the role by precedence', () => {
    const identity = claimsToIdentity(
      {
        iss: ISS,
        sub: '00u1',
        preferred_username: 'Alice@corp.example.com',
        name: 'Alice A.',
        email: 'alice@corp.example.com',
        groups: ['dev', 'security', 'platform-admins', 'dev'],
      },
      SETTINGS,
    );
    expect(identity).toEqual({
      subject: '00u1',
      issuer: ISS,
      username: 'alice',
      name: 'Alice A.',
      email: 'alice@corp.example.com',
      groups: ['dev', 'security', 'platform-admins'],
      role: 'owner',
    });
    expect(roleFor(['security'], SETTINGS.roles)).toBe('auditor');
    expect(roleFor(['dev'], SETTINGS.roles)).toBe('member');
    expect(roleFor([], {})).toBe('member');
  });

  it('falls back from preferred_username to email, then to a stable name from the subject', () => {
    const byEmail = claimsToIdentity({ iss: ISS, sub: 's1', email: 'Bob@corp.example.com' }, SETTINGS);
    expect(byEmail.username).toBe('bob');
    expect(byEmail.name).toBe('bob');
    const none = claimsToIdentity({ iss: ISS, sub: 's2', preferred_username: 'me' }, SETTINGS);
    expect(none.username).toMatch(/^user-[0-9a-f]{10}$/);
    expect(claimsToIdentity({ iss: ISS, sub: 's2' }, SETTINGS).username).toBe(none.username);
    const named = claimsToIdentity({ iss: ISS, sub: 's3', given_name: 'Carol', family_name: 'C' }, SETTINGS);
    expect(named.name).toBe('Carol C');
  });

  it('reads a configured username claim and nested or namespaced groups claims', () => {
    const claims = {
      iss: ISS,
      sub: 's4',
      upn: 'dave@corp.example.com',
      preferred_username: 'ignored',
      realm_access: { roles: ['security'] },
      'https://example.com/groups': ['platform-admins'],
    };
    const nested = claimsToIdentity(claims, { ...SETTINGS, username_claim: 'upn', groups_claim: 'realm_access.roles' });
    expect(nested).toMatchObject({ username: 'dave', groups: ['security'], role: 'auditor' });
    const namespaced = claimsToIdentity(claims, { ...SETTINGS, groups_claim: 'https://example.com/groups' });
    expect(namespaced).toMatchObject({ username: 'ignored', groups: ['platform-admins'], role: 'owner' });
  });

  it('keeps hostile claims small and well-typed', () => {
    const groups = groupsFrom([
      ...Array.from({ length: MAX_GROUPS + 50 }, (_, i) => `g${i}`),
      42,
      null,
      'x'.repeat(300),
    ]);
    expect(groups).toHaveLength(MAX_GROUPS);
    expect(groupsFrom('solo')).toEqual(['solo']);
    expect(groupsFrom({ not: 'a list' })).toEqual([]);
    const identity = claimsToIdentity(
      { iss: ISS, sub: 's5', name: 'n'.repeat(1000), email: 'not-an-email', groups: 'dev' },
      SETTINGS,
    );
    expect(identity.name).toBe(identity.username);
    expect(identity.email).toBeNull();
    expect(identity.groups).toEqual(['dev']);
  });

  it('refuses claims without a subject, and people outside allowed_groups', () => {
    expect(() => claimsToIdentity({ iss: ISS }, SETTINGS)).toThrow(OidcError);
    expect(() => claimsToIdentity({ iss: ISS, sub: 42 }, SETTINGS)).toThrow(
      expect.objectContaining({ code: 'invalid_claims' }),
    );
    const allowed = { ...SETTINGS, allowed_groups: ['engineering'] };
    expect(() => claimsToIdentity({ iss: ISS, sub: 's6', groups: ['sales'] }, allowed)).toThrow(
      expect.objectContaining({ code: 'not_allowed', message: expect.not.stringContaining('sales') }),
    );
    expect(claimsToIdentity({ iss: ISS, sub: 's6', groups: ['engineering'] }, allowed).groups).toEqual(['engineering']);
  });
});
