import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import schema from '../../schemas/config.schema.json' with { type: 'json' };
import { KINDS } from '../../src/providers/registry.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');

interface Node {
  type?: string | string[];
  default?: unknown;
  properties?: Record<string, Node>;
  items?: Node;
}

/** Every leaf setting of the schema, as the README names it (`providers[].name`). */
function settings(properties: Record<string, Node>, prefix = ''): Array<[string, Node]> {
  return Object.entries(properties).flatMap(([key, node]): Array<[string, Node]> => {
    const path = `${prefix}${key}`;
    if (node.properties && node.type === 'object' && key !== 'headers') return settings(node.properties, `${path}.`);
    if (node.items?.properties) return settings(node.items.properties, `${path}[].`);
    return [[path, node]];
  });
}

describe('README', () => {
  it('documents every configuration setting with its schema default', () => {
    for (const [path, node] of settings(schema.properties as Record<string, Node>)) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${path}\` |`));
      expect(row, `README lacks a row for ${path}`).toBeDefined();
      if (
        (typeof node.default === 'string' && node.default) ||
        typeof node.default === 'number' ||
        typeof node.default === 'boolean'
      ) {
        expect(row, path).toContain(`\`${String(node.default)}\``);
      }
    }
  });

  it("documents every provider kind's own settings", () => {
    for (const kind of KINDS) {
      expect(readme, kind.type).toContain(`\`${kind.type}\``);
      for (const setting of Object.keys(kind.settings)) {
        const row = readme.split('\n').find((line) => line.startsWith(`| \`providers[].${setting}\` |`));
        expect(row, `README lacks a row for providers[].${setting} (${kind.type})`).toBeDefined();
      }
    }
  });

  it('shows the two commands', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
  });
});
