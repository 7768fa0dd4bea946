const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "250ms", "30s", "10m", "1440h", "60d" or 0 into milliseconds (0 = disabled). */
export function parseDuration(value: string | number): number {
  if (value === 0 || value === '0') return 0;
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(String(value));
  if (!match) throw new Error(`not a duration: ${value}`);
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}
