/**
 * Small canvas-2D charts for the web app (no chart library): the live training curve and the
 * generated-vs-real traces. Each canvas records what it drew in data attributes (points, series),
 * which the browser tests read.
 */

export interface Series {
  label: string;
  color: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  dashed?: boolean;
}

function prepare(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  ctx.font = '11px system-ui, sans-serif';
  return ctx;
}

function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= step0) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(Math.abs(v) < 1e-12 * span ? 0 : v);
  return out;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One panel: axes, ticks, title and the series, in the box given (CSS pixels). */
function panel(ctx: CanvasRenderingContext2D, box: Box, title: string, series: Series[], yRange?: [number, number]): number {
  const left = box.x + 52;
  const right = box.x + box.w - 8;
  const top = box.y + 18;
  const bottom = box.y + box.h - 20;
  let xlo = Infinity,
    xhi = -Infinity,
    ylo = Infinity,
    yhi = -Infinity;
  let points = 0;
  for (const s of series) {
    for (let i = 0; i < s.x.length; i++) {
      const y = s.y[i];
      if (!Number.isFinite(y)) continue;
      xlo = Math.min(xlo, s.x[i]);
      xhi = Math.max(xhi, s.x[i]);
      ylo = Math.min(ylo, y);
      yhi = Math.max(yhi, y);
      points++;
    }
  }
  if (yRange) [ylo, yhi] = yRange;
  ctx.fillStyle = '#333';
  ctx.fillText(title, left, box.y + 12);
  ctx.strokeStyle = '#bbb';
  ctx.strokeRect(left, top, right - left, bottom - top);
  if (points === 0) {
    ctx.fillStyle = '#888';
    ctx.fillText('no data yet', left + 8, top + 16);
    return 0;
  }
  if (xhi === xlo) xhi = xlo + 1;
  if (yhi === ylo) [ylo, yhi] = [ylo - 1, yhi + 1];
  const pad = 0.05 * (yhi - ylo);
  ylo -= pad;
  yhi += pad;
  const X = (x: number) => left + ((x - xlo) / (xhi - xlo)) * (right - left);
  const Y = (y: number) => bottom - ((y - ylo) / (yhi - ylo)) * (bottom - top);
  ctx.fillStyle = '#666';
  ctx.strokeStyle = '#eee';
  for (const t of niceTicks(ylo, yhi, 4)) {
    ctx.beginPath();
    ctx.moveTo(left, Y(t));
    ctx.lineTo(right, Y(t));
    ctx.stroke();
    ctx.fillText(fmt(t), box.x + 2, Y(t) + 4);
  }
  for (const t of niceTicks(xlo, xhi, 5)) ctx.fillText(fmt(t), X(t) - 8, bottom + 13);
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, right - left, bottom - top);
  ctx.clip();
  let legendX = right;
  for (const s of [...series].reverse()) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.5;
    ctx.setLineDash(s.dashed ? [4, 3] : []);
    ctx.beginPath();
    let started = false;
    for (let i = 0; i < s.x.length; i++) {
      if (!Number.isFinite(s.y[i])) continue;
      const px = X(s.x[i]);
      const py = Y(Math.min(yhi, Math.max(ylo, s.y[i])));
      if (started) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
      started = true;
    }
    if (s.x.length === 1) ctx.arc(X(s.x[0]), Y(s.y[0]), 2, 0, 2 * Math.PI);
    ctx.stroke();
    legendX -= ctx.measureText(s.label).width + 12;
  }
  ctx.restore();
  ctx.setLineDash([]);
  let lx = legendX;
  for (const s of series) {
    ctx.fillStyle = s.color;
    ctx.fillText(s.label, lx, box.y + 12);
    lx += ctx.measureText(s.label).width + 12;
  }
  return points;
}

/** Training curve: loss and log-likelihood per step against iteration, in two stacked panels. */
export function drawTrainingChart(canvas: HTMLCanvasElement, iterations: number[], loss: number[], llPerStep: number[]): void {
  const ctx = prepare(canvas);
  const w = canvas.clientWidth;
  const h = canvas.clientHeight / 2;
  const n1 = panel(ctx, { x: 0, y: 0, w, h }, 'loss', [{ label: 'loss', color: '#c0392b', x: iterations, y: loss }]);
  panel(ctx, { x: 0, y: h, w, h }, 'log-likelihood per step', [{ label: 'log p̂(y)/T', color: '#2471a3', x: iterations, y: llPerStep }]);
  canvas.dataset.points = String(n1);
  canvas.dataset.lastLoss = loss.length ? String(loss[loss.length - 1]) : '';
}

/** Generated vs real observations, one panel per channel ([T, C] arrays). */
export function drawTraces(canvas: HTMLCanvasElement, T: number, C: number, real: Float32Array | null, generated: Float32Array): void {
  const ctx = prepare(canvas);
  const w = canvas.clientWidth;
  const h = canvas.clientHeight / Math.max(1, C);
  const t = Array.from({ length: T }, (_, i) => i);
  const column = (a: Float32Array, c: number) => Array.from({ length: T }, (_, i) => a[i * C + c]);
  let drawn = 0;
  for (let c = 0; c < C; c++) {
    const series: Series[] = [];
    if (real) series.push({ label: 'real', color: '#555', x: t, y: column(real, c) });
    series.push({ label: 'generated', color: '#d35400', x: t, y: column(generated, c), dashed: !!real });
    drawn += panel(ctx, { x: 0, y: c * h, w, h }, `channel ${c + 1}`, series) > 0 ? 1 : 0;
  }
  canvas.dataset.series = String(drawn);
}

/** A blank chart with a line of text (e.g. why there is nothing to draw). */
export function drawNote(canvas: HTMLCanvasElement, text: string): void {
  const ctx = prepare(canvas);
  ctx.fillStyle = '#777';
  ctx.fillText(text, 8, 20);
  canvas.dataset.series = '0';
}
