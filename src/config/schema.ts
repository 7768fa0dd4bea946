import baseSchema from '../../schemas/config.schema.json' with { type: 'json' };
import { KINDS, PROVIDER_TYPES } from '../providers/registry.ts';

type Schema = Record<string, any>;

/**
 * The configuration's JSON Schema: `schemas/config.schema.json`, with each provider kind's own
 * settings (src/providers/kinds) added, so the registry is the one list of kinds. A provider
 * entry is checked against its type's settings only, so errors name what is wrong with it.
 */
export function configSchema(): Schema {
  const schema = structuredClone(baseSchema) as Schema;
  const items = schema.properties.providers.items as Schema;
  items.properties.type.enum = [...PROVIDER_TYPES];
  items.allOf = KINDS.map((kind) => ({
    if: { properties: { type: { const: kind.type } }, required: ['type'] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a thenable
    then: {
      properties: { name: true, type: true, ...kind.settings },
      required: [...(kind.required ?? [])],
      additionalProperties: false,
    },
  }));
  return schema;
}
