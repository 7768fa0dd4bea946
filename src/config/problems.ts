import type { ErrorObject } from 'ajv';

/**
 * What each pattern of the configuration schema asks for, in words: a reader of an error
 * should not have to read a regex. A pattern missing here reads "is not in the expected form"
 * (a unit test keeps this table complete for the schema and every provider kind).
 */
export const PATTERN_WORDS: Record<string, string> = {
  '^[a-z0-9]+(-[a-z0-9]+)*$': 'must be lowercase letters and digits, in words joined by - (like openai-eu)',
  '^https?://': 'must be an http:// or https:// URL',
  '^(\\[[0-9a-fA-F:]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$': 'must be host:port (like 127.0.0.1:4000)',
  '^(|mongodb(\\+srv)?://.+)$': 'must be empty or a mongodb:// or mongodb+srv:// URI',
  '^[A-Za-z0-9_-]{1,63}$': 'must be 1-63 letters, digits, _ or -',
  '^[0-9]+(ms|s|m)$': 'must be a duration in ms, s or m (like 30s)',
  '^[0-9]+(ms|s|m|h)$': 'must be a duration in ms, s, m or h (like 10m)',
  '^(0|[0-9]+(ms|s|m|h))$': 'must be 0 or a duration in ms, s, m or h (like 1h)',
  '^(0|[0-9]+[smhd])$': 'must be 0 or a duration in s, m, h or d (like 60d)',
  '^[0-9]+(B|KiB|MiB)?$': 'must be a size in bytes, or with KiB or MiB (like 64KiB)',
  '^[0-9]+(B|KiB|MiB|GiB)?$': 'must be a size in bytes, or with KiB, MiB or GiB (like 8MiB)',
  '^[a-z]{2}(-[a-z]+)+-[0-9]+$': 'must be an AWS region (like us-east-1)',
  '^(arn:aws[a-z-]*:iam::[0-9]{12}:role/.+)?$': 'must be an IAM role ARN (arn:aws:iam::123456789012:role/name)',
  '^([\\w+=,.@-]{2,64})?$': 'must be 2-64 letters, digits or +=,.@-',
  '^([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$': 'must be a Google Cloud project id (like my-project)',
  '^[a-z]+(-[a-z]+[0-9]+)?$': 'must be a Google Cloud location (like us-east5, europe-west1, us, eu or global)',
  '^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$':
    'must be 1-128 letters, digits, ., _, :, @, / or -, starting with a letter or digit (like fast)',
  '^[!#-\\[\\]-~]+$': 'must be printable ASCII without spaces, " or \\ (an OAuth scope, like groups)',
};

/** Edit distance, for "did you mean": small strings only (setting names). */
export function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (previous[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length] as number;
}

/** The known name nearest to a typo, when it is near enough to be what was meant. */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/** "/providers/1/base_url" → "providers[1].base_url" */
function pathOf(error: ErrorObject): string {
  let path = '';
  for (const part of error.instancePath.split('/').slice(1)) {
    path += /^\d+$/.test(part) ? `[${part}]` : `${path ? '.' : ''}${part}`;
  }
  if (error.keyword === 'required') path += `${path ? '.' : ''}${error.params.missingProperty}`;
  if (error.keyword === 'additionalProperties') path += `${path ? '.' : ''}${error.params.additionalProperty}`;
  return path || '(root)';
}

const list = (values: readonly unknown[]) => values.map((v) => JSON.stringify(v)).join(', ');

const TYPE_WORDS: Record<string, string> = {
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping of settings',
  array: 'a list',
  null: 'empty',
};

function messageOf(error: ErrorObject): string {
  // A value of the wrong type or size, where the setting has a form in words: say the form.
  const form = PATTERN_WORDS[(error.parentSchema as { pattern?: string } | undefined)?.pattern ?? ''];
  if (form && ['type', 'maximum', 'minimum'].includes(error.keyword)) return form;
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties': {
      const known = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const meant = nearest(String(error.params.additionalProperty), known);
      return meant ? `is not a known setting; did you mean \`${meant}\`?` : 'is not a known setting';
    }
    case 'format':
      return error.params.format === 'uri'
        ? 'must be a URL'
        : error.params.format === 'regex'
          ? 'must be a valid regular expression'
          : `must be a valid ${error.params.format}`;
    case 'pattern':
      return PATTERN_WORDS[error.params.pattern as string] ?? 'is not in the expected form';
    case 'enum':
      return `must be one of ${list(error.params.allowedValues as unknown[])}`;
    case 'type':
      return `must be ${String(error.params.type)
        .split(',')
        .map((t) => TYPE_WORDS[t] ?? t)
        .join(' or ')}`;
    case 'minimum':
      return `must be at least ${error.params.limit}`;
    case 'maximum':
      return `must be at most ${error.params.limit}`;
    case 'minLength':
      return error.params.limit === 1 ? 'must not be empty' : `must be at least ${error.params.limit} characters`;
    case 'maxLength':
      return `must be at most ${error.params.limit} characters`;
    case 'minItems':
      return `must list at least ${error.params.limit}`;
    case 'exclusiveMinimum':
      return `must be more than ${error.params.limit}`;
    case 'exclusiveMaximum':
      return `must be less than ${error.params.limit}`;
    default:
      return error.message ?? 'is invalid';
  }
}

/**
 * Ajv reports every rule a value breaks, and one error per branch of a union; a person wants
 * one line per setting, the most telling one: what form it must take before how it failed.
 */
const PRIORITY = ['required', 'additionalProperties', 'pattern', 'enum', 'format', 'type'];
const priority = (e: ErrorObject) => {
  const i = PRIORITY.indexOf(e.keyword);
  return i === -1 ? PRIORITY.length : i;
};

/** One line per setting: `path: what is expected`, in the order the settings first went wrong. */
export function describeErrors(errors: readonly ErrorObject[]): string[] {
  const byPath = new Map<string, ErrorObject>();
  for (const error of errors) {
    // if/then and union wrappers say only that a branch failed; the branch's own errors say how.
    if (['if', 'anyOf', 'oneOf', 'allOf'].includes(error.keyword)) continue;
    const path = pathOf(error);
    const kept = byPath.get(path);
    if (!kept || priority(error) < priority(kept)) byPath.set(path, error);
  }
  return [...byPath].map(([path, error]) => `${path}: ${messageOf(error)}`);
}
