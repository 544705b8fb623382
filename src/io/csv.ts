/**
 * Numeric CSV tables (plain text, no Node APIs). The delimiter is detected from the first data line
 * (tab, semicolon, comma, else runs of whitespace); a first row that is not all numbers is the
 * header; blank lines and `#` comments are skipped. NaN/Inf spellings parse to NaN/±Infinity so that
 * validation can report where they are.
 */

export type CsvDelimiter = ',' | ';' | '\t' | 'whitespace';

export interface CsvTable {
  /** [rows, cols] of the numeric body. */
  shape: [number, number];
  /** Row-major values. */
  data: Float64Array;
  header?: string[];
  delimiter: CsvDelimiter;
}

export interface CsvOptions {
  /** Force a delimiter instead of detecting it. */
  delimiter?: CsvDelimiter;
}

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const SPECIAL: Record<string, number> = { nan: NaN, inf: Infinity, infinity: Infinity };

/** Parse one field as a number, or undefined if it is not one. Hex, '' and '1_000' are not numbers. */
export function parseNumber(field: string): number | undefined {
  if (NUMBER_RE.test(field)) return Number(field);
  const lower = field.toLowerCase();
  const sign = lower.startsWith('-') ? -1 : 1;
  const body = lower.replace(/^[+-]/, '');
  return body in SPECIAL ? sign * SPECIAL[body] : undefined;
}

export function detectDelimiter(line: string): CsvDelimiter {
  if (line.includes('\t')) return '\t';
  if (line.includes(';')) return ';';
  if (line.includes(',')) return ',';
  return 'whitespace';
}

function splitLine(line: string, delimiter: CsvDelimiter): string[] {
  const parts = delimiter === 'whitespace' ? line.trim().split(/\s+/) : line.split(delimiter);
  return parts.map((p) => unquote(p.trim()));
}

function unquote(s: string): string {
  return s.length >= 2 && ((s[0] === '"' && s.endsWith('"')) || (s[0] === "'" && s.endsWith("'"))) ? s.slice(1, -1).trim() : s;
}

/** Parse a numeric CSV table. `source` names the file in error messages. */
export function parseCsv(text: string, source = 'CSV data', options: CsvOptions = {}): CsvTable {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  let delimiter = options.delimiter;
  let header: string[] | undefined;
  let cols = -1;
  let firstDataLine = 0;
  const values: number[] = [];
  let rows = 0;
  for (let li = 0; li < lines.length; li++) {
    const hash = lines[li].indexOf('#');
    const line = hash >= 0 ? lines[li].slice(0, hash) : lines[li];
    if (line.trim() === '') continue;
    delimiter ??= detectDelimiter(line);
    const fields = splitLine(line, delimiter);
    const lineNo = li + 1;
    if (cols < 0) {
      cols = fields.length;
      firstDataLine = lineNo;
      // A header has some non-numeric name; a row of numbers with an empty field is a data error.
      if (fields.some((f) => f !== '' && parseNumber(f) === undefined)) {
        header = fields;
        continue;
      }
    } else if (fields.length !== cols) {
      const what = header && rows === 0 ? 'the header' : `line ${firstDataLine}`;
      throw new Error(`${source}: line ${lineNo}: expected ${cols} columns (as on ${what}), found ${fields.length}`);
    }
    for (let c = 0; c < fields.length; c++) {
      const v = parseNumber(fields[c]);
      if (v === undefined) {
        const shown = fields[c] === '' ? 'empty field' : `'${fields[c]}' is not a number`;
        throw new Error(`${source}: line ${lineNo}, column ${c + 1}: ${shown}`);
      }
      values.push(v);
    }
    rows++;
  }
  if (rows === 0) throw new Error(`${source}: no data rows${header ? ' (only a header)' : ''}`);
  return { shape: [rows, cols], data: Float64Array.from(values), header, delimiter: delimiter! };
}

/** Format a row-major table as CSV (comma-separated, shortest round-trip number form). */
export function formatCsv(data: ArrayLike<number>, shape: readonly [number, number], header?: readonly string[]): string {
  const [rows, cols] = shape;
  if (rows * cols !== data.length) throw new Error(`formatCsv: ${data.length} values do not fill shape [${rows}, ${cols}]`);
  if (header && header.length !== cols) throw new Error(`formatCsv: header has ${header.length} names for ${cols} columns`);
  const out: string[] = header ? [header.join(',')] : [];
  for (let r = 0; r < rows; r++) {
    const row: string[] = [];
    for (let c = 0; c < cols; c++) row.push(String(data[r * cols + c]));
    out.push(row.join(','));
  }
  return out.join('\n') + '\n';
}
