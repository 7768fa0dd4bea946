import { randomUUID } from 'node:crypto';
import {
  type Budget,
  DuplicateError,
  type Store,
  type TeamDoc,
  type TeamMemberDoc,
  teamMemberId,
} from '../store/store.ts';
import { IdentityError, refuseBadBudget } from './users.ts';

/** A team named that does not exist. */
export class NoSuchTeam extends IdentityError {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_NAME = 256;
/** How long a user's teams are trusted before the store is asked again (budgets look them up per request). */
const TEAMS_TTL_MS = 4_000;
const MAX_CACHED = 10_000;

/**
 * Why a team name cannot be used, or undefined. Names come from people and from single sign-on
 * groups (`/engineering/platform`, `Platform Team`): anything printable but `"` (the audit `q`
 * has no escape for it), without spaces at either end, at most 256 characters.
 */
export function teamNameProblem(name: string): string | undefined {
  if (!name || name.length > MAX_NAME) return `a team name is 1-${MAX_NAME} characters`;
  if (/["\p{Cc}]/u.test(name)) return 'a team name cannot contain " or control characters';
  if (name.trim() !== name) return 'a team name cannot start or end with a space';
  if (UUID.test(name)) return 'a team name cannot look like an id';
  // In a URL path (`/teams/{team}`) these would name the folder above, not the team.
  if (name === '.' || name === '..') return 'a team name cannot be . or ..';
  return undefined;
}

/**
 * Teams (README "Teams"): named groups of users with a shared budget, a scope for auditors, and, with
 * single sign-on, the provider's groups. A team made from a group is managed by single sign-on:
 * its members are set at each member's sign-in, never by hand.
 */
export class Teams {
  readonly #store: Store;
  readonly #cache = new Map<string, { teams: TeamDoc[]; at: number }>();

  constructor(store: Store) {
    this.#store = store;
  }

  list(): Promise<TeamDoc[]> {
    return this.#store.teams.list();
  }

  async create(name: string, options: { budget?: Budget | null; sso?: boolean } = {}): Promise<TeamDoc> {
    const problem = teamNameProblem(name);
    if (problem) throw new IdentityError(problem);
    refuseBadBudget(options.budget);
    const team: TeamDoc = {
      _id: randomUUID(),
      name,
      name_key: name.toLowerCase(),
      created_at: new Date(),
      budget: options.budget ?? null,
      sso: options.sso ?? false,
    };
    try {
      await this.#store.teams.create(team);
    } catch (err) {
      if (err instanceof DuplicateError) throw new IdentityError(`team "${name}" already exists`);
      throw err;
    }
    return team;
  }

  /** By id, then by name (case-insensitive). */
  async resolve(nameOrId: string): Promise<TeamDoc | null> {
    if (UUID.test(nameOrId)) {
      const byId = await this.#store.teams.byId(nameOrId);
      if (byId) return byId;
    }
    return this.#store.teams.byName(nameOrId);
  }

  async require(nameOrId: string): Promise<TeamDoc> {
    const team = await this.resolve(nameOrId);
    if (!team) throw new NoSuchTeam(`no team "${nameOrId}"`);
    return team;
  }

  async delete(nameOrId: string): Promise<TeamDoc> {
    const team = await this.require(nameOrId);
    await this.#store.teams.delete(team._id);
    this.forget();
    return team;
  }

  async setBudget(nameOrId: string, budget: Budget | null): Promise<TeamDoc> {
    refuseBadBudget(budget);
    const team = await this.require(nameOrId);
    await this.#store.teams.update(team._id, { budget });
    this.forget();
    return { ...team, budget };
  }

  /** Adds a user to a team by hand (not to one single sign-on manages); false when already in it. */
  async add(team: TeamDoc, userId: string): Promise<boolean> {
    refuseSso(team);
    const added = await this.#store.teams.addMember(membership(team._id, userId));
    this.#cache.delete(userId);
    return added;
  }

  async remove(team: TeamDoc, userId: string): Promise<boolean> {
    refuseSso(team);
    const removed = await this.#store.teams.removeMember(team._id, userId);
    this.#cache.delete(userId);
    return removed;
  }

  /** The members (user ids) of these teams, each once. */
  async memberIds(teamIds: readonly string[]): Promise<string[]> {
    if (!teamIds.length) return [];
    return [...new Set((await this.#store.teams.members({ team_ids: teamIds })).map((m) => m.user_id))];
  }

  /** The teams a user is in, by name. */
  async teamsOf(userId: string): Promise<TeamDoc[]> {
    const ids = new Set((await this.#store.teams.members({ user_id: userId })).map((m) => m.team_id));
    if (!ids.size) return [];
    return (await this.#store.teams.list()).filter((t) => ids.has(t._id));
  }

  /**
   * teamsOf, remembered for a few seconds: budgets ask it on every request. While the store
   * cannot answer, what was last known is used.
   */
  async cachedTeamsOf(userId: string): Promise<TeamDoc[]> {
    const known = this.#cache.get(userId);
    if (known && Date.now() - known.at < TEAMS_TTL_MS) return known.teams;
    let teams: TeamDoc[];
    try {
      teams = await this.teamsOf(userId);
    } catch (err) {
      if (known) return known.teams;
      throw err;
    }
    this.#cache.delete(userId);
    this.#cache.set(userId, { teams, at: Date.now() });
    if (this.#cache.size > MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value as string);
    return teams;
  }

  /** Forgets every remembered membership (a change made through this process). */
  forget(): void {
    this.#cache.clear();
  }

  /**
   * Single sign-on: the user's teams become the groups the provider named. A group's team is
   * created when missing and is from then on managed by single sign-on (a team of that name an
   * owner made is taken over: its members then follow the groups). Teams owners manage are left
   * as they are. Groups that cannot be team names are skipped.
   */
  async syncFromGroups(userId: string, groups: readonly string[]): Promise<{ skipped: string[] }> {
    const skipped = groups.filter((g) => teamNameProblem(g) !== undefined);
    const wanted = new Map(groups.filter((g) => !skipped.includes(g)).map((g) => [g.toLowerCase(), g]));
    const byKey = new Map((await this.#store.teams.list()).map((t) => [t.name_key, t]));
    const teamIds = new Set<string>();
    for (const [key, name] of wanted) {
      let team = byKey.get(key);
      if (!team) {
        try {
          team = await this.create(name, { sso: true });
        } catch (err) {
          // Another sign-in made it a moment ago.
          team = (await this.#store.teams.byName(name)) ?? undefined;
          if (!team) throw err;
        }
      }
      if (!team.sso) await this.#store.teams.update(team._id, { sso: true });
      teamIds.add(team._id);
    }
    const ssoTeams = new Set([...byKey.values()].filter((t) => t.sso).map((t) => t._id));
    const current = await this.#store.teams.members({ user_id: userId });
    for (const m of current) {
      if (ssoTeams.has(m.team_id) && !teamIds.has(m.team_id)) await this.#store.teams.removeMember(m.team_id, userId);
    }
    const have = new Set(current.map((m) => m.team_id));
    for (const id of teamIds) if (!have.has(id)) await this.#store.teams.addMember(membership(id, userId));
    this.#cache.delete(userId);
    return { skipped };
  }
}

function refuseSso(team: TeamDoc): void {
  if (team.sso) {
    throw new IdentityError(
      `team "${team.name}" is managed by single sign-on: its members follow their groups at the identity provider, at each sign-in`,
    );
  }
}

const membership = (teamId: string, userId: string): TeamMemberDoc => ({
  _id: teamMemberId(teamId, userId),
  team_id: teamId,
  user_id: userId,
  created_at: new Date(),
});
