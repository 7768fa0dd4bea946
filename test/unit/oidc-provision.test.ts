import { describe, expect, it } from 'vitest';
import { OidcError } from '../../src/identity/oidc/errors.ts';
import type { SsoIdentity } from '../../src/identity/oidc/identity.ts';
import { signInUser } from '../../src/identity/oidc/provision.ts';
import { MemoryDirectory } from '../helpers/sso-directory.ts';

const ISS = 'https://login.example.com';

const identity = (overrides: Partial<SsoIdentity> = {}): SsoIdentity => ({
  subject: 'sub-alice',
  issuer: ISS,
  username: 'alice',
  name: 'Alice A.',
  email: 'alice@corp.example.com',
  groups: ['dev'],
  role: 'member',
  ...overrides,
});

describe('signInUser', () => {
  it('creates the user at the first sign-in, with the groups as teams', async () => {
    const directory = new MemoryDirectory();
    const { user, created } = await signInUser(directory, identity());
    expect(created).toBe(true);
    expect(user).toMatchObject({
      username: 'alice',
      name: 'Alice A.',
      email: 'alice@corp.example.com',
      role: 'member',
    });
    expect(directory.teams.get(user.id)).toEqual(['dev']);
  });

  it('finds the same user by subject later, and updates name, e-mail, role and teams (never the username)', async () => {
    const directory = new MemoryDirectory();
    const first = await signInUser(directory, identity());
    const again = await signInUser(
      directory,
      identity({
        username: 'alice.renamed',
        name: 'Alice B.',
        email: 'alice.b@corp.example.com',
        role: 'owner',
        groups: ['platform-admins'],
      }),
    );
    expect(again.created).toBe(false);
    expect(again.user).toMatchObject({ id: first.user.id, username: 'alice', name: 'Alice B.', role: 'owner' });
    expect(directory.teams.get(first.user.id)).toEqual(['platform-admins']);
    const removed = await signInUser(directory, identity({ groups: [] }));
    expect(removed.user.role).toBe('member');
    expect(directory.teams.get(first.user.id)).toEqual([]);
    expect(directory.users.size).toBe(1);
  });

  it('gives a taken username the next free suffix, and never takes over a local user by name', async () => {
    const directory = new MemoryDirectory();
    const admin = directory.addLocalUser('admin', 'owner');
    directory.addLocalUser('Alice'); // usernames clash case-insensitively
    const impostor = await signInUser(directory, identity({ subject: 'sub-x', username: 'admin', role: 'member' }));
    expect(impostor.user.username).toBe('admin-2');
    expect(impostor.user.id).not.toBe(admin.id);
    expect(directory.users.get(admin.id)?.role).toBe('owner');
    const alice = await signInUser(directory, identity());
    expect(alice.user.username).toBe('alice-2');
    const another = await signInUser(directory, identity({ subject: 'sub-other-alice' }));
    expect(another.user.username).toBe('alice-3');
  });

  it('refuses a disabled or deleted user and changes nothing', async () => {
    const directory = new MemoryDirectory();
    const { user } = await signInUser(directory, identity());
    const stored = directory.users.get(user.id);
    if (!stored) throw new Error('missing');
    stored.disabled = true;
    await expect(signInUser(directory, identity({ role: 'owner', groups: ['platform-admins'] }))).rejects.toThrow(
      expect.objectContaining({ code: 'user_disabled' }),
    );
    expect(stored.role).toBe('member');
    expect(directory.teams.get(user.id)).toEqual(['dev']);
    stored.disabled = false;
    stored.deleted = true;
    const err = await signInUser(directory, identity()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OidcError);
    expect((err as OidcError).code).toBe('user_deleted');
    expect(directory.users.size).toBe(1);
  });

  it('makes one user when the same person signs in twice at once', async () => {
    const directory = new MemoryDirectory();
    const results = await Promise.all([signInUser(directory, identity()), signInUser(directory, identity())]);
    expect(directory.users.size).toBe(1);
    expect(results[0].user.id).toBe(results[1].user.id);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it('gives two people wanting one username at once two usernames', async () => {
    const directory = new MemoryDirectory();
    const [a, b] = await Promise.all([
      signInUser(directory, identity({ subject: 'one' })),
      signInUser(directory, identity({ subject: 'two' })),
    ]);
    expect([a.user.username, b.user.username].sort()).toEqual(['alice', 'alice-2']);
  });

  it('lets a store refusal (the last owner) end the sign-in', async () => {
    const directory = new MemoryDirectory();
    const { user } = await signInUser(directory, identity({ role: 'owner' }));
    directory.updateUser = async () => {
      throw new Error('the last owner cannot be demoted');
    };
    await expect(signInUser(directory, identity({ role: 'member' }))).rejects.toThrow('last owner');
    expect(directory.users.get(user.id)?.role).toBe('owner');
  });
});
