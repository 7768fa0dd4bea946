import type { Principal } from '../../identity/users.ts';
import type { InterceptionFilter } from '../../store/store.ts';
import type { AppContext } from '../context.ts';
import { ApiError } from './errors.ts';

/** Whose records a caller may see (README "Teams"). */
export interface Visibility {
  /** The initiators whose records the caller sees; null: everyone's. */
  initiators: string[] | null;
  /** The teams (ids) an auditor is limited to; null when not limited. */
  teams: string[] | null;
}

/**
 * Owners and auditors see everyone's records, members their own; an auditor limited to teams
 * sees their members' (as the teams are now) and their own.
 */
export async function visibilityOf(ctx: Pick<AppContext, 'teams'>, principal: Principal): Promise<Visibility> {
  const { user } = principal;
  if (user.role === 'member') return { initiators: [user._id], teams: null };
  const scope = user.role === 'auditor' ? (user.audit_teams ?? []) : [];
  if (!scope.length) return { initiators: null, teams: null };
  const members = await ctx.teams.memberIds(scope);
  return { initiators: [...new Set([...members, user._id])], teams: [...scope] };
}

export const sees = (v: Visibility, userId: string) => v.initiators === null || v.initiators.includes(userId);

/** The filter every read of records starts from: nothing outside what the caller may see. */
export const visibleFilter = (v: Visibility): InterceptionFilter =>
  v.initiators === null
    ? {}
    : v.initiators.length === 1
      ? { initiator_id: v.initiators[0] }
      : { initiator_ids: v.initiators };

/** A limited caller naming someone they may not see: refused before anything about them is told. */
export function outside(v: Visibility): ApiError {
  return new ApiError(
    403,
    v.teams ? 'you can only see the records of your teams’ members' : 'members can only see their own interceptions',
  );
}
