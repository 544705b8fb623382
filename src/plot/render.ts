/**
 * Chart rendering without a browser: a vega-lite spec is compiled to vega, run in a headless vega View
 * (renderer 'none') and serialised with `toSVG()`. Works in Node and in the browser; PNG conversion
 * (native resvg) lives in ./files.ts, Node only.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface Plot {
  svg: string;
  /** The vega-lite spec that produced the SVG (for embedding elsewhere or debugging). */
  spec: TopLevelSpec;
  width: number;
  height: number;
}

/** Fonts that exist on most machines; resvg picks the first one it finds when rasterising. */
export const PLOT_FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

const BASE_CONFIG = {
  background: 'white',
  font: PLOT_FONT,
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14 },
};

export async function renderSpec(spec: TopLevelSpec): Promise<Plot> {
  const withConfig = { ...spec, config: { ...BASE_CONFIG, ...(spec as { config?: object }).config } } as TopLevelSpec;
  const vg = compile(withConfig).spec;
  const view = new View(parse(vg), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const m = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
    return { svg, spec: withConfig, width: m ? Number(m[1]) : 0, height: m ? Number(m[2]) : 0 };
  } finally {
    view.finalize();
  }
}
