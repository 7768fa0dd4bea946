import type { Config } from '../config/config.ts';
import type { Authenticator } from '../identity/authenticator.ts';
import type { Users } from '../identity/users.ts';
import type { Logger } from '../observability/logger.ts';
import type { Recorder } from '../recorder/recorder.ts';
import type { Store } from '../store/mongo.ts';

/** Everything a route needs, built once at start-up and passed down explicitly. */
export interface AppContext {
  config: Config;
  store: Store;
  users: Users;
  authenticator: Authenticator;
  logger: Logger;
  recorder: Recorder;
  /** Extra readiness facts (MCP servers, recorder) merged into /readyz. */
  readiness: Array<() => Record<string, unknown>>;
}
