import type { Users } from './users.ts';

/** On a first start (no users at all) creates the owner `admin` and returns its token, shown once. */
export async function bootstrapOwner(users: Users): Promise<{ username: string; token: string } | undefined> {
  if ((await users.count()) > 0) return undefined;
  const admin = await users.create('admin', { name: 'Administrator', role: 'owner' }).catch(() => undefined);
  if (!admin) return undefined; // another replica created it first
  return { username: admin.username, token: (await users.createToken(admin._id, { name: 'first start' })).token };
}
