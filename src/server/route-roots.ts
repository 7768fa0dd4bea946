/**
 * The roots provider routes answer under: the bare one, and those of clients set up for Coder's
 * AI Bridge or its 2026 name, AI Gateway (README "Pointing clients at the bridge").
 */
export const ROUTE_ROOTS = ['', '/api/v2/aibridge', '/api/v2/ai-gateway'] as const;
