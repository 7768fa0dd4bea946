/** Coder's AI Bridge routes, and the same after Coder renamed it AI Gateway (README "Pointing clients at the bridge"). */
export const API_PREFIXES = ['/api/v2/aibridge', '/api/v2/ai-gateway'] as const;

/** The prefix links and registered callback addresses use. */
export const API_PREFIX = API_PREFIXES[0];
