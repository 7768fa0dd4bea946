import type { InterceptionFilter, Store, UsageGroup, UsageKey } from '../store/store.ts';
import { apiUsd, withTotalInput } from './figures.ts';

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

/** A usage group as the API shows it: the initiator named, input's total beside its parts. */
export type UsageGroupView = Omit<UsageGroup, 'key'> & {
  total_input_tokens: number;
  key: Omit<UsageGroup['key'], 'initiator'> & { initiator?: NamedInitiator };
};

export interface UsageReport {
  group_by: UsageKey[];
  groups: UsageGroupView[];
}

/** Days in order; within a day (or without days) the biggest spenders first. */
function sortGroups(groups: UsageGroup[]): UsageGroup[] {
  return groups.sort(
    (a, b) =>
      (a.key.day ?? '').localeCompare(b.key.day ?? '') ||
      (b.cost_usd ?? -1) - (a.cost_usd ?? -1) ||
      b.interceptions - a.interceptions ||
      JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)),
  );
}

/**
 * A usage summary as the usage API gives it (README "Cost and budgets"), summed by the store:
 * the API and `aibridge usage` on the store itself show the same thing.
 */
export async function usageReport(
  store: Pick<Store, 'audit' | 'identity'>,
  filter: InterceptionFilter,
  groupBy: readonly UsageKey[],
): Promise<UsageReport> {
  const groups = sortGroups(await store.audit.usage(filter, groupBy));
  const name = await initiatorNames(
    store,
    groups.map((g) => g.key.initiator).filter((id): id is string => id !== undefined),
  );
  return {
    group_by: [...groupBy],
    groups: groups.map((g) => ({
      ...withTotalInput(g),
      cost_usd: apiUsd(g.cost_usd),
      key:
        g.key.initiator === undefined
          ? (g.key as UsageGroupView['key'])
          : { ...g.key, initiator: name(g.key.initiator) },
    })),
  };
}
