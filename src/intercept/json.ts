/** A parsed JSON object of a provider's API, read loosely: the API modules narrow what they use. */
export type Json = Record<string, any>;
