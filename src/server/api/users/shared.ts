import type { FastifyRequest } from 'fastify';
import { parseRfc3339 } from '../../../audit/query.ts';
import { parseDuration } from '../../../duration.ts';
import { IdentityError, type Principal, type User } from '../../../identity/users.ts';
import type { ApiKeyDoc } from '../../../store/store.ts';
import type { AppContext } from '../../context.ts';
import { principalOf, seesEveryone } from '../auth.ts';
import { ApiError, guard, invalid } from '../errors.ts';
import { ref } from '../schemas.ts';
import { sees, visibilityOf } from '../visibility.ts';

export const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** Who is in which team, by name, to show with users. */
export interface TeamNames {
  of(userId: string): string[];
  name(teamId: string): string | undefined;
}

/** Every user's team names, or (given a user id) one user's: then only their memberships are read. */
export async function teamNames(ctx: Pick<AppContext, 'store'>, userId?: string): Promise<TeamNames> {
  const [teams, members] = await Promise.all([
    ctx.store.teams.list(),
    ctx.store.teams.members(userId === undefined ? undefined : { user_id: userId }),
  ]);
  const names = new Map(teams.map((t) => [t._id, t.name]));
  const byUser = new Map<string, string[]>();
  for (const m of members) {
    const name = names.get(m.team_id);
    if (name) byUser.set(m.user_id, [...(byUser.get(m.user_id) ?? []), name]);
  }
  return {
    of: (userId) => (byUser.get(userId) ?? []).sort((a, b) => a.localeCompare(b)),
    name: (teamId) => names.get(teamId),
  };
}

export const presentUser = (u: User, teams?: TeamNames) => ({
  id: u._id,
  username: u.username,
  name: u.name,
  role: u.role,
  created_at: u.created_at.toISOString(),
  disabled: u.disabled_at !== null,
  deleted: u.deleted_at !== null,
  budget: u.budget ?? null,
  denied_servers: u.denied_servers ?? [],
  email: u.email ?? null,
  sso: Boolean(u.sso),
  ...(teams
    ? {
        teams: teams.of(u._id),
        audit_teams: (u.audit_teams ?? []).map((id) => teams.name(id)).filter((n): n is string => n !== undefined),
      }
    : {}),
});

export const presentToken = (k: ApiKeyDoc) => ({
  id: k._id,
  kind: k.kind,
  name: k.name,
  created_at: k.created_at.toISOString(),
  last_used_at: iso(k.last_used_at),
  expires_at: iso(k.expires_at),
  revoked_at: iso(k.revoked_at),
});

/** `30d`-style durations from now, or an RFC 3339 time; must lie in the future (and within what a Date holds). */
export function parseExpiry(text: string | undefined | null, now = Date.now()): Date | null {
  if (text === undefined || text === null || text === '') return null;
  let at: Date | undefined;
  try {
    at = new Date(now + parseDuration(text));
  } catch {
    at = parseRfc3339(text);
  }
  if (!at || !(at.getTime() > now))
    throw invalid(
      [{ field: 'expires', detail: 'use a duration like 30d or a future RFC 3339 time' }],
      'invalid request body',
    );
  return at;
}

export type Params = { user: string };

export const caller = (ctx: AppContext, request: FastifyRequest) => principalOf(ctx, request);

/**
 * The user a path names (`me` = the caller), visible to owners (and auditors when reading) or
 * themselves; an auditor limited to teams reads only their members. Anyone else gets 403
 * whether the name exists or not (no probing for names), unless it names the caller after all
 * (in another case).
 */
export async function target(ctx: AppContext, principal: Principal, name: string, write: boolean): Promise<User> {
  const self = name === 'me' || name === principal.user._id || name === principal.user.username;
  if (self) return principal.user;
  const allowed = write ? principal.user.role === 'owner' : seesEveryone(principal);
  const user = await guard(ctx, () => ctx.users.resolve(name));
  if (user?._id === principal.user._id) return principal.user;
  if (!allowed) throw new ApiError(403, 'you can only manage your own account');
  if (!user || user.deleted_at) throw new ApiError(404, `no user "${name}"`);
  if (!write && !sees(await guard(ctx, () => visibilityOf(ctx, principal)), user._id)) {
    throw new ApiError(404, `no user "${name}"`);
  }
  return user;
}

const STATUS_OF = { invalid: 400, taken: 409, 'last-owner': 409, unknown: 404 } as const;

/** Identity refusals as the API answers them; inside `guard`, which lets an ApiError through. */
export function identityErrors<T>(work: () => Promise<T>): () => Promise<T> {
  return () =>
    work().catch((err) => {
      if (err instanceof IdentityError) throw new ApiError(STATUS_OF[err.reason], err.message);
      throw err;
    });
}

/**
 * An owner's change to a user: a refusal in the API's terms, and every cached identity forgotten
 * after it, so this replica applies the change at once (the others within 5 s).
 */
export async function changeUser<T>(ctx: AppContext, work: () => Promise<T>): Promise<T> {
  const done = await guard(ctx, identityErrors(work));
  ctx.authenticator.forget();
  return done;
}

export const errors = {
  400: ref('Error'),
  401: ref('Error'),
  403: ref('Error'),
  404: ref('Error'),
  503: ref('Error'),
};
export const userParams = {
  type: 'object',
  properties: { user: { type: 'string', description: 'username, id, or me' } },
};
