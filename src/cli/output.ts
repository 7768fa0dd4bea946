import { type Command, Option } from 'commander';

/** Control characters (C0, DEL, C1): in recorded text they are whoever sent the request's, and a terminal obeys them. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;
/** The same, less the tab and line breaks a quoted CSV field may hold as data. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CSV_CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g;
const visible = (text: string, pattern: RegExp) =>
  text.replace(pattern, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/**
 * RFC 4180: quote a field holding a comma, quote or line break, doubling inner quotes. Text a
 * spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`, as
 * the console's export does; control characters other than tab and line breaks are escaped.
 */
export const csvField = (value: unknown) => {
  let text = value === null || value === undefined ? '' : visible(String(value), CSV_CONTROL);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

export const csv = (rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]) =>
  [columns, ...rows.map((r) => columns.map((c) => r[c]))].map((cells) => cells.map(csvField).join(',')).join('\r\n') +
  '\r\n';

/**
 * A cost as a table shows it: cents from a dollar up, three significant digits below ($0.0113,
 * $0.000588), never float noise; null (no price known) is "-". JSON and CSV keep the API's number.
 */
export function usdCell(usd: number | null): string | null {
  if (usd === null) return null;
  if (usd === 0) return '$0.00';
  if (Math.abs(usd) >= 1) return `$${usd.toFixed(2)}`;
  const digits = Math.min(9, 2 - Math.floor(Math.log10(Math.abs(usd))));
  const [whole, fraction = ''] = usd.toFixed(digits).replace(/0+$/, '').split('.');
  return `$${whole}.${fraction.padEnd(2, '0')}`;
}

/** One line per row: every control character (line breaks and escape sequences included) shown as `\xNN`. */
const cell = (value: unknown) =>
  value === null || value === undefined
    ? '-'
    : value instanceof Date
      ? value.toISOString()
      : visible(String(value), CONTROL);

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
