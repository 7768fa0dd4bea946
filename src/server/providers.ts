import type { Config, ProviderConfig } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { poolKeys } from '../providers/api-key.ts';
import { Provider } from '../providers/provider.ts';

/**
 * A configured provider with its listeners: its circuits and key pool counted in the metrics, a
 * pool key the upstream refused logged once, by its place in `api_keys` (never its value).
 */
export function buildProvider(
  entry: ProviderConfig,
  limits: Config['limits'],
  index: number,
  metrics: Metrics,
  logger: Logger,
): Provider {
  const pool = poolKeys(entry).length
    ? metrics.keyPoolListener(entry.name, (key, status) =>
        logger.warn(
          { provider: entry.name, key: `providers[${index}].api_keys[${key}]`, status },
          `provider "${entry.name}": the upstream refused a key of its pool (${status}); it is set aside until the configuration is reloaded`,
        ),
      )
    : undefined;
  return new Provider(entry, limits, index, metrics.breakerListener(entry.name), pool);
}
