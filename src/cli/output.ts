import { type Command, Option } from 'commander';

/** RFC 4180: quote a field holding a comma, quote or line break, doubling inner quotes. */
export const csvField = (value: unknown) => {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

export const csv = (rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]) =>
  [columns, ...rows.map((r) => columns.map((c) => r[c]))].map((cells) => cells.map(csvField).join(',')).join('\r\n') +
  '\r\n';

const cell = (value: unknown) =>
  value === null || value === undefined ? '-' : value instanceof Date ? value.toISOString() : String(value);

/** Aligned columns with a header, like `kubectl get` or `coder users list`. */
export function table(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): string {
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((c) => cell(r[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => (row[i] as string).length)));
  return `${cells.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ')).join('\n')}\n`;
}

/** `-o, --output` (Coder's flag) and `--format` (kept), one value. */
export function addOutputOptions(command: Command, choices: readonly string[], fallback: string): Command {
  return command
    .addOption(new Option('-o, --output <format>', 'output format').choices(choices))
    .addOption(new Option('--format <format>', 'same as --output').choices(choices).default(fallback));
}

export const outputOf = (opts: { output?: string; format?: string }) => opts.output ?? opts.format;

/** Prints rows as a table, JSON or CSV. */
export function printRows(
  rows: ReadonlyArray<Record<string, unknown>>,
  columns: readonly string[],
  format: string | undefined,
  json: unknown = rows,
): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else if (format === 'csv') process.stdout.write(csv(rows, columns));
  else process.stdout.write(rows.length ? table(rows, columns) : '(none)\n');
}
