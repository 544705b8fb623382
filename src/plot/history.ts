/**
 * Training histories for `trainingCurves`, from the shapes a trainer or a user is likely to have:
 * a JSON array of numbers, a JSON array of records ({iteration, loss, ...}), JSON lines of such
 * records, an object of equal-length numeric arrays, or any of these under a `history` key
 * (e.g. inside a model file).
 */
import type { CurveInput } from './charts.js';

const X_KEYS = ['iteration', 'iter', 'step', 'epoch'];

function fromRecords(records: unknown[], source: string): CurveInput {
  const keys: string[] = [];
  for (const [i, r] of records.entries()) {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error(`${source}: record ${i} is not an object`);
    for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && !keys.includes(k)) keys.push(k);
  }
  const xKey = X_KEYS.find((k) => keys.includes(k));
  const series: Record<string, number[]> = {};
  for (const k of keys) if (k !== xKey) series[k] = records.map((r) => numberOrNaN((r as Record<string, unknown>)[k]));
  if (Object.keys(series).length === 0) throw new Error(`${source}: records hold no numeric fields besides the iteration`);
  return { series, iteration: xKey ? records.map((r) => numberOrNaN((r as Record<string, unknown>)[xKey])) : undefined };
}

function numberOrNaN(v: unknown): number {
  return typeof v === 'number' ? v : NaN;
}

function fromValue(v: unknown, source: string): CurveInput {
  if (Array.isArray(v)) {
    if (v.length === 0) throw new Error(`${source}: empty history`);
    if (v.every((x) => typeof x === 'number' || x === null)) return { series: { value: v.map(numberOrNaN) } };
    return fromRecords(v, source);
  }
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    if ('history' in o) return fromValue(o.history, `${source} (history)`);
    const numeric = (a: unknown) => Array.isArray(a) && a.every((x) => typeof x === 'number' || x === null);
    const arrays = Object.entries(o).filter(([, a]) => numeric(a)) as [string, (number | null)[]][];
    const xEntry = arrays.find(([k]) => X_KEYS.includes(k));
    const series: Record<string, number[]> = {};
    for (const [k, a] of arrays) if (k !== xEntry?.[0]) series[k] = a.map(numberOrNaN);
    if (Object.keys(series).length === 0) throw new Error(`${source}: no numeric arrays found (expected e.g. {"loss": [...]})`);
    return { series, iteration: xEntry?.[1].map(numberOrNaN) };
  }
  throw new Error(`${source}: expected a JSON array or object, got ${typeof v}`);
}

/** Parse a history from JSON or JSON-lines text. */
export function parseHistory(text: string, source = 'history'): CurveInput {
  const trimmed = text.trim();
  if (!trimmed) throw new Error(`${source}: empty file`);
  try {
    return fromValue(JSON.parse(trimmed), source);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
  }
  const records: unknown[] = [];
  trimmed.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      records.push(JSON.parse(line));
    } catch {
      throw new Error(`${source}: line ${i + 1} is not valid JSON`);
    }
  });
  return fromRecords(records, source);
}

/** Curves from table columns (a 1-D array is one series, a 2-D [row, column] array one series per column). */
export function historyFromTable(shape: readonly number[], data: ArrayLike<number>, header?: string[]): CurveInput {
  if (shape.length === 1) return { series: { value: Array.from(data) } };
  if (shape.length !== 2) throw new Error(`curve table: expected 1-D or 2-D data, got shape [${shape.join(', ')}]`);
  const [rows, cols] = shape;
  const names = header ?? Array.from({ length: cols }, (_, c) => `column ${c}`);
  const xCol = names.findIndex((n) => X_KEYS.includes(n));
  const column = (c: number) => Array.from({ length: rows }, (_, r) => data[r * cols + c]);
  const series: Record<string, number[]> = {};
  for (let c = 0; c < cols; c++) if (c !== xCol) series[names[c]] = column(c);
  return { series, iteration: xCol >= 0 ? column(xCol) : undefined };
}
