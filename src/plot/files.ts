/**
 * Node-only plot output: SVG → PNG with resvg, and writing a plot as .svg or .png by extension
 * (atomically, so an interrupted run never leaves a truncated image).
 */
import { extname } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { writeFileAtomic } from '../io/files.js';
import type { Plot } from './render.js';

export interface PngOptions {
  /** Pixels per SVG unit (default 2: crisp on high-density screens and in READMEs). */
  scale?: number;
}

export function svgToPng(svg: string, opts: PngOptions = {}): Uint8Array {
  const scale = opts.scale ?? 2;
  if (!(scale > 0)) throw new Error(`PNG scale must be positive, got ${scale}`);
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    logLevel: 'off',
  });
  return resvg.render().asPng();
}

/** Write `plot` to `path`: .svg as text, .png rasterised. Returns the bytes written. */
export async function writePlot(plot: Plot, path: string, opts: PngOptions = {}): Promise<number> {
  const ext = extname(path).toLowerCase();
  if (ext === '.svg') {
    await writeFileAtomic(path, plot.svg);
    return Buffer.byteLength(plot.svg);
  }
  if (ext === '.png') {
    const png = svgToPng(plot.svg, opts);
    await writeFileAtomic(path, png);
    return png.byteLength;
  }
  throw new Error(`${path}: unsupported plot file type '${ext || '(no extension)'}' (expected .svg or .png)`);
}
