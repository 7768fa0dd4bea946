/**
 * @peculiar/x509 registers its algorithms through tsyringe, which refuses to load without the
 * Reflect metadata API (a polyfill the package leaves to its user). These are the functions
 * tsyringe and decorator output call, kept per target and property in WeakMaps; installed only
 * when no polyfill is already present. Import this module before @peculiar/x509.
 */
type Key = string | symbol | undefined;
type Target = object;

const store = new WeakMap<Target, Map<Key, Map<unknown, unknown>>>();

function own(target: Target, property: Key, create: boolean): Map<unknown, unknown> | undefined {
  let byProperty = store.get(target);
  if (!byProperty) {
    if (!create) return undefined;
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let entries = byProperty.get(property);
  if (!entries && create) {
    entries = new Map();
    byProperty.set(property, entries);
  }
  return entries;
}

const api = {
  defineMetadata(key: unknown, value: unknown, target: Target, property?: Key): void {
    own(target, property, true)!.set(key, value);
  },
  getOwnMetadata(key: unknown, target: Target, property?: Key): unknown {
    return own(target, property, false)?.get(key);
  },
  /** Own metadata, else the nearest prototype's, as the polyfills do. */
  getMetadata(key: unknown, target: Target, property?: Key): unknown {
    for (let at: Target | null = target; at; at = Object.getPrototypeOf(at)) {
      const entries = own(at, property, false);
      if (entries?.has(key)) return entries.get(key);
    }
    return undefined;
  },
  hasMetadata(key: unknown, target: Target, property?: Key): boolean {
    return api.getMetadata(key, target, property) !== undefined;
  },
  metadata(key: unknown, value: unknown) {
    return (target: Target, property?: Key) => api.defineMetadata(key, value, target, property);
  },
};

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect.getMetadata !== 'function') {
  for (const [name, fn] of Object.entries(api)) reflect[name] ??= fn;
}
