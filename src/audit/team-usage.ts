import { type Store, USAGE_COUNTS, type UsageGroup } from '../store/store.ts';

export const TEAM_KEY = 'team';

/** A usage group whose key may name a team (by id; '' for the members of no team). */
export type TeamUsageGroup = Omit<UsageGroup, 'key'> & { key: UsageGroup['key'] & { team?: string } };

/**
 * Usage by team (README "Teams"): the store sums by initiator, and each initiator's sums are
 * added to every team they are in now (so a person in two teams counts in both, and the teams
 * add up to more than the whole); people in no team form one group with `team: null`. An
 * auditor limited to teams sees only those teams. The store's groups are per person, never per
 * record, so this adds up a few hundred numbers at most.
 */
export async function groupByTeam(
  store: Pick<Store, 'teams'>,
  groups: TeamUsageGroup[],
  options: { keepInitiator: boolean; visibleTeams: readonly string[] | null },
): Promise<{ groups: TeamUsageGroup[]; teamName(id: string): { id: string; name: string } | null }> {
  const teams = await store.teams.list();
  const visible = options.visibleTeams;
  const shown = new Map(teams.filter((t) => !visible || visible.includes(t._id)).map((t) => [t._id, t.name]));
  const userIds = [...new Set(groups.map((g) => g.key.initiator).filter((id): id is string => id !== undefined))];
  const teamsOf = new Map<string, string[]>();
  if (userIds.length) {
    for (const m of await store.teams.members({ team_ids: [...shown.keys()] })) {
      teamsOf.set(m.user_id, [...(teamsOf.get(m.user_id) ?? []), m.team_id]);
    }
  }
  const byKey = new Map<string, TeamUsageGroup>();
  for (const group of groups) {
    const { initiator, ...rest } = group.key;
    const memberOf = teamsOf.get(initiator as string) ?? [];
    for (const team of memberOf.length ? memberOf : ['']) {
      const key = { ...rest, ...(options.keepInitiator ? { initiator } : {}), team };
      const id = JSON.stringify(key);
      const into = byKey.get(id);
      if (!into) {
        byKey.set(id, { ...group, key });
        continue;
      }
      for (const field of USAGE_COUNTS) into[field] += group[field];
      if (group.cost_usd !== null) into.cost_usd = (into.cost_usd ?? 0) + group.cost_usd;
    }
  }
  return {
    groups: [...byKey.values()],
    teamName: (id) => (id && shown.has(id) ? { id, name: shown.get(id) as string } : null),
  };
}
