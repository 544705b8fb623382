/**
 * Progress display for long runs. On a TTY: one line redrawn in place (bar, percentage, rate, ETA
 * and extra fields such as loss and lr). Otherwise (CI logs, pipes): a plain line at most every
 * `intervalMs`, plus the final one, so logs stay short.
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Number of units of work; 0 or undefined when unknown (then no bar, percentage or ETA). */
  total?: number;
  label?: string;
  /** Unit name for the rate, e.g. 'it' → '12.5 it/s'. */
  unit?: string;
  /** Defaults to process.stderr where it exists. */
  stream?: ProgressStream;
  /** Minimum time between plain (non-TTY) lines. Default 5000 ms. */
  intervalMs?: number;
  /** Minimum time between TTY redraws. Default 100 ms. */
  ttyIntervalMs?: number;
  /** Clock in ms (tests inject a fake one). */
  now?: () => number;
}

export type ProgressFields = Record<string, number | string | undefined>;

export class Progress {
  readonly total: number;
  readonly label: string;
  private readonly unit: string;
  private readonly stream: ProgressStream | undefined;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly ttyIntervalMs: number;
  private readonly now: () => number;
  private readonly start: number;
  private lastWrite = -Infinity;
  private count = 0;
  private fields: ProgressFields = {};
  private finished = false;
  private drawn = false;

  constructor(options: ProgressOptions = {}) {
    this.total = options.total ?? 0;
    this.label = options.label ?? '';
    this.unit = options.unit ?? 'it';
    this.stream = options.stream ?? defaultStream();
    this.tty = this.stream?.isTTY === true;
    this.intervalMs = options.intervalMs ?? 5000;
    this.ttyIntervalMs = options.ttyIntervalMs ?? 100;
    this.now = options.now ?? (() => performance.now());
    this.start = this.now();
  }

  /** Record that `done` units are complete; `fields` (e.g. {loss, lr}) are shown after the rate. */
  update(done: number, fields?: ProgressFields): void {
    if (this.finished) return;
    this.count = done;
    if (fields) this.fields = { ...this.fields, ...fields };
    const t = this.now();
    if (t - this.lastWrite < (this.tty ? this.ttyIntervalMs : this.intervalMs)) return;
    this.lastWrite = t;
    this.render(t, false);
  }

  /** Print a message without breaking the bar (TTY: clear the line, print, redraw). */
  log(message: string): void {
    if (!this.stream) return;
    if (this.tty && this.drawn) {
      this.stream.write(`\r\x1b[K${message}\n`);
      this.render(this.now(), false);
    } else this.stream.write(`${message}\n`);
  }

  /** Print the final line (always) and end the display. */
  done(fields?: ProgressFields): void {
    if (this.finished) return;
    if (fields) this.fields = { ...this.fields, ...fields };
    this.render(this.now(), true);
    this.finished = true;
  }

  /** Units per second since the start. */
  rate(at = this.now()): number {
    const s = (at - this.start) / 1000;
    return s > 0 ? this.count / s : 0;
  }

  /** The status text without bar or terminal control codes. */
  line(at = this.now(), final = false): string {
    const parts: string[] = [];
    if (this.label) parts.push(this.label);
    const known = this.total > 0;
    parts.push(known ? `${this.count}/${this.total} (${percent(this.count, this.total)})` : `${this.count}`);
    const rate = this.rate(at);
    parts.push(`${formatRate(rate)} ${this.unit}/s`);
    if (final) parts.push(`in ${formatDuration((at - this.start) / 1000)}`);
    else if (known && rate > 0) parts.push(`ETA ${formatDuration(Math.max(0, this.total - this.count) / rate)}`);
    const extra = formatFields(this.fields);
    if (extra) parts.push(extra);
    return parts.join(' ');
  }

  private render(at: number, final: boolean): void {
    if (!this.stream) return;
    if (!this.tty) {
      this.stream.write(`${this.line(at, final)}\n`);
      return;
    }
    let text = this.line(at, final);
    const columns = this.stream.columns ?? 80;
    if (this.total > 0) {
      // Bar goes right after the label; it gets whatever width the text leaves (at least 10).
      const width = Math.max(10, Math.min(30, columns - text.length - 4));
      const filled = Math.round((Math.min(this.count, this.total) / this.total) * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      text = this.label ? `${this.label} ${bar} ${text.slice(this.label.length + 1)}` : `${bar} ${text}`;
    }
    if (text.length > columns - 1) text = text.slice(0, columns - 1);
    this.stream.write(`\r${text}\x1b[K${final ? '\n' : ''}`);
    this.drawn = !final;
  }
}

function defaultStream(): ProgressStream | undefined {
  const proc = (globalThis as { process?: { stderr?: ProgressStream } }).process;
  return proc?.stderr;
}

function percent(done: number, total: number): string {
  return `${Math.floor((100 * Math.min(done, total)) / total)}%`;
}

/** 3 significant digits; k/M/G suffixes for large rates. */
export function formatRate(r: number): string {
  if (!Number.isFinite(r)) return String(r);
  const units: [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [scale, suffix] of units) if (r >= scale) return `${(r / scale).toPrecision(3)}${suffix}`;
  return r.toPrecision(3);
}

/** h:mm:ss or m:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** Numbers with 4 significant digits, exponent form when very small or large (lr=1.000e-3). */
export function formatValue(v: number | string): string {
  if (typeof v === 'string') return v;
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

function formatFields(fields: ProgressFields): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${formatValue(v as number | string)}`)
    .join(' ');
}
