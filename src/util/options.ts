/**
 * Option values checked by name: the CLI's flags (strings) and a sweep job's options (JSON numbers,
 * strings and booleans) go through the same checks, with errors naming the option as `--name`.
 */
export type OptionValue = string | number | boolean | undefined;

export function numberOption(
  value: OptionValue,
  name: string,
  opts: { int?: boolean; min?: number; max?: number; positive?: boolean; default?: number } = {},
): number {
  if (value === undefined) {
    if (opts.default !== undefined) return opts.default;
    throw new Error(`--${name} is required`);
  }
  const v = typeof value === 'boolean' ? NaN : Number(value);
  if (!Number.isFinite(v) || (opts.int && !Number.isInteger(v))) throw new Error(`--${name} must be ${opts.int ? 'an integer' : 'a number'}, got "${value}"`);
  if (opts.min !== undefined && v < opts.min) throw new Error(`--${name} must be ≥ ${opts.min}, got ${v}`);
  if (opts.positive && !(v > 0)) throw new Error(`--${name} must be > 0, got ${v}`);
  if (opts.max !== undefined && v > opts.max) throw new Error(`--${name} must be ≤ ${opts.max}, got ${v}`);
  return v;
}

export function choiceOption<T extends string>(value: OptionValue, name: string, choices: readonly T[], fallback?: T): T {
  if (value === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error(`--${name} is required (one of ${choices.join(', ')})`);
  }
  if (!choices.includes(value as T)) throw new Error(`--${name} must be one of ${choices.join(', ')}, got "${value}"`);
  return value as T;
}
