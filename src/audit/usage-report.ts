import { apiUsd, withTotalInput } from '../store/figures.ts';
import { type InterceptionFilter, type Store, USAGE_KEYS, type UsageGroup, type UsageKey } from '../store/store.ts';
import { groupByTeam, TEAM_KEY, type TeamUsageGroup } from './team-usage.ts';

/** What usage groups by: the store's keys, and `team` (folded from initiators here). */
export const GROUP_KEYS = [...USAGE_KEYS, TEAM_KEY] as const;
export type GroupKey = (typeof GROUP_KEYS)[number];

/** An initiator as the API names one: a deleted user keeps their name and is marked. */
export interface NamedInitiator {
  id: string;
  username: string | null;
  name: string | null;
  deleted: boolean;
}

/** Names the given user ids (one store read for all of them). */
export async function initiatorNames(
  store: Pick<Store, 'identity'>,
  ids: readonly string[],
): Promise<(id: string) => NamedInitiator> {
  const users = ids.length ? await store.identity.usersByIds([...new Set(ids)]) : [];
  const byId = new Map(users.map((u) => [u._id, u]));
  return (id) => {
    const user = byId.get(id);
    return { id, username: user?.username ?? null, name: user?.name ?? null, deleted: Boolean(user?.deleted_at) };
  };
}

/** A usage group as the API shows it: the initiator and team named, input's total beside its parts. */
export type UsageGroupView = Omit<UsageGroup, 'key'> & {
  total_input_tokens: number;
  key: Omit<UsageGroup['key'], 'initiator'> & {
    initiator?: NamedInitiator;
    /** null: the initiators in no team. */
    team?: { id: string; name: string } | null;
  };
};

export interface UsageReport {
  group_by: GroupKey[];
  groups: UsageGroupView[];
}

/** Days in order; within a day (or without days) the biggest spenders first. */
function sortGroups<G extends UsageGroup | TeamUsageGroup>(groups: G[]): G[] {
  return groups.sort(
    (a, b) =>
      (a.key.day ?? '').localeCompare(b.key.day ?? '') ||
      (b.cost_usd ?? -1) - (a.cost_usd ?? -1) ||
      b.interceptions - a.interceptions ||
      JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)),
  );
}

/**
 * A usage summary as the usage API gives it (README "Cost and budgets"), summed by the store
 * (and by team here): the API and `aibridge usage` on the store itself show the same thing.
 * `visibleTeams`: the teams an auditor limited to teams may see (null: every team).
 */
export async function usageReport(
  store: Pick<Store, 'audit' | 'identity' | 'teams'>,
  filter: InterceptionFilter,
  groupBy: readonly GroupKey[],
  visibleTeams: readonly string[] | null = null,
): Promise<UsageReport> {
  const byTeam = groupBy.includes(TEAM_KEY);
  const storeKeys = groupBy.filter((k): k is UsageKey => k !== TEAM_KEY);
  if (byTeam && !storeKeys.includes('initiator')) storeKeys.push('initiator');
  let groups: TeamUsageGroup[] = await store.audit.usage(filter, storeKeys);
  let teamName = (_id: string): { id: string; name: string } | null => null;
  if (byTeam) {
    ({ groups, teamName } = await groupByTeam(store, groups, {
      keepInitiator: groupBy.includes('initiator'),
      visibleTeams,
    }));
  }
  groups = sortGroups(groups);
  const name = await initiatorNames(
    store,
    groups.map((g) => g.key.initiator).filter((id): id is string => id !== undefined),
  );
  return {
    group_by: [...groupBy],
    groups: groups.map(({ key, ...g }) => {
      // Named in place, so the key keeps its order.
      const shown: Record<string, unknown> = { ...key };
      if (key.initiator !== undefined) shown.initiator = name(key.initiator);
      if (key.team !== undefined) shown.team = teamName(key.team);
      return { ...withTotalInput(g), cost_usd: apiUsd(g.cost_usd), key: shown as UsageGroupView['key'] };
    }),
  };
}
