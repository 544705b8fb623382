import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { metricByParameter } from '../plot/charts.js';
import { writePlot } from '../plot/files.js';
import { addData, cancelSweep, openStore, resultRows, submitSweep, sweepStatus, type JobStatus } from '../sweep/index.js';
import { formatDuration } from '../util/progress.js';

export const summary = 'run fits across machines on a Redis job queue: sweep submit | status | results | plot | cancel | add-data';

const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

const USAGE = `lowrank-smc sweep <subcommand> [options]

  sweep add-data FILE --store DIR        copy a data file into the store; prints its sha256 for the sweep file
  sweep submit SWEEP.json --store DIR    validate the sweep and enqueue one job per fit; prints the sweep id
  sweep status ID [--json]               per job: state, iteration, loss, ETA, worker
  sweep results ID --json|--csv          options, final log-likelihood per step, eval metrics per job
  sweep plot ID --out FILE.png [--x OPTION] [--y COLUMN] [--group OPTION] [--stat mean|std|var] [--log-y]
                                         a metric against a swept option (default: the first swept option and
                                         metrics.d_stsp, else ll_per_step; grouped by the second swept option);
                                         --stat: one point per x, e.g. the variance of ll_per_step over seeds vs K
  sweep cancel ID                        remove queued jobs; running ones stop at their next readback

  --redis URL   redis://[user:password@]host:port or rediss://... (TLS); default $LOWRANK_SMC_REDIS or ${DEFAULT_REDIS}
  --store DIR   the store directory every worker reaches (shared file system)

Sweep file (JSON, validated before anything is enqueued; README "Sweeps on several machines"):
  { "data": { "sha256": "...", "layout": "time,channel" }, "fit": { "iters": 500, "rank": 3 },
    "grid": { "particles": [1, 10, 64], "seed": [0, 1, 2] },
    "random": { "count": 8, "seed": 0, "space": { "lr": { "log-uniform": [1e-4, 1e-2] } } },
    "eval": { "metrics": { "steps": 2000 }, "fixed-points": true }, "checkpoint-every": 50 }`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      redis: { type: 'string' },
      store: { type: 'string' },
      json: { type: 'boolean' },
      csv: { type: 'boolean' },
      out: { type: 'string' },
      x: { type: 'string' },
      y: { type: 'string' },
      group: { type: 'string' },
      stat: { type: 'string' },
      'log-y': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  const [sub, arg, ...extra] = positionals;
  if (values.help || !sub) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (extra.length) throw new Error(`unexpected arguments: ${extra.join(' ')}`);
  const redis = values.redis ?? process.env.LOWRANK_SMC_REDIS ?? DEFAULT_REDIS;
  const need = (what: string) => {
    if (!arg) throw new Error(`sweep ${sub}: ${what} is required\n\n${USAGE}`);
    return arg;
  };
  const store = () => {
    if (!values.store) throw new Error(`sweep ${sub}: --store DIR is required`);
    return values.store;
  };
  switch (sub) {
    case 'add-data': {
      const { sha256, path } = await addData(await openStore(store()), need('FILE'));
      if (values.json) console.log(JSON.stringify({ sha256, path }));
      else console.log(sha256);
      return 0;
    }
    case 'submit': {
      const file = need('SWEEP.json');
      const text = await readFile(file, 'utf8').catch(() => {
        throw new Error(`${file}: file not found`);
      });
      const r = await submitSweep(text, { redis, store: store() }, file);
      if (values.json) console.log(JSON.stringify(r));
      else {
        console.error(
          `sweep ${r.id}: ${r.jobs} jobs${r.existing ? ` (${r.existing} already queued by an earlier submission)` : ''}, data ${r.dataSha256.slice(0, 12)}…`,
        );
        console.log(r.id);
      }
      return 0;
    }
    case 'status': {
      const s = await sweepStatus(need('ID'), { redis });
      if (values.json) {
        console.log(JSON.stringify(s));
        return 0;
      }
      const counts = Object.entries(s.counts)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ');
      console.log(`sweep ${s.id}${s.name ? ` (${s.name})` : ''}: ${s.jobs.length} jobs: ${counts}${s.cancelled ? ' — cancelled' : ''}`);
      for (const j of s.jobs) console.log(statusLine(j, s.swept));
      return 0;
    }
    case 'results': {
      if (!values.json === !values.csv) throw new Error('sweep results: give one of --json or --csv');
      const rows = resultRows(await sweepStatus(need('ID'), { redis }));
      console.log(values.json ? JSON.stringify(rows) : toCsv(rows));
      return 0;
    }
    case 'plot': {
      if (!values.out) throw new Error('sweep plot: --out FILE.png|FILE.svg is required');
      const s = await sweepStatus(need('ID'), { redis });
      const rows = resultRows(s).filter((r) => r.state === 'completed');
      const x = values.x ?? s.swept[0];
      if (!x) throw new Error('sweep plot: the sweep varies no option; pass --x OPTION');
      const y = values.y ?? (rows.some((r) => 'metrics.d_stsp' in r) ? 'metrics.d_stsp' : 'll_per_step');
      const group = values.group ?? s.swept.find((k) => k !== x);
      for (const [flag, col] of [
        ['--x', x],
        ['--y', y],
        ['--group', group],
      ] as const) {
        if (col && rows.length && !rows.some((r) => col in r))
          throw new Error(`sweep plot: ${flag} ${col} is not a column of the results (${Object.keys(rows[0]).join(', ')})`);
      }
      let points = rows.map((r) => ({ x: Number(r[x]), y: Number(r[y]), group: group ? `${group} ${r[group]}` : undefined }));
      let yTitle = y;
      if (values.stat) {
        // one point per value of x: the spread over the other options (e.g. the variance over seeds against K)
        const stat = values.stat;
        if (!['mean', 'std', 'var'].includes(stat)) throw new Error(`sweep plot: --stat must be one of mean, std, var, got "${stat}"`);
        const byX = new Map<number, number[]>();
        for (const p of points) if (Number.isFinite(p.y)) byX.set(p.x, [...(byX.get(p.x) ?? []), p.y]);
        points = [...byX.entries()].map(([px, ys]) => {
          const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
          const v = ys.length > 1 ? ys.reduce((a, b) => a + (b - mean) ** 2, 0) / (ys.length - 1) : NaN;
          return { x: px, y: stat === 'mean' ? mean : stat === 'var' ? v : Math.sqrt(v), group: undefined };
        });
        yTitle = `${stat}(${y})`;
      }
      const plot = await metricByParameter(points, x, yTitle, {
        title: `sweep ${s.name ?? s.id}: ${rows.length} of ${s.jobs.length} jobs done`,
        logY: !!values['log-y'],
      });
      await writePlot(plot, values.out);
      console.error(`wrote ${values.out}`);
      return 0;
    }
    case 'cancel': {
      const r = await cancelSweep(need('ID'), { redis });
      console.log(`removed ${r.removed} queued jobs; ${r.running} running jobs stop at their next readback`);
      return 0;
    }
    default:
      throw new Error(`unknown subcommand "${sub}"\n\n${USAGE}`);
  }
}

function statusLine(j: JobStatus, swept: string[]): string {
  const opts = swept.map((k) => `${k}=${j.options[k]}`).join(' ');
  const p = j.progress;
  const parts = [`  ${String(j.index).padStart(4)}  ${j.state.padEnd(9)}  ${opts}`];
  if (j.state === 'active' && p)
    parts.push(`iter ${p.iteration}/${p.iterations}  loss ${p.loss.toFixed(3)}  ETA ${p.eta_s === null ? '?' : formatDuration(p.eta_s)}`);
  if (j.state === 'completed' && j.result) parts.push(`ll/step ${Number(j.result.ll_per_step).toFixed(4)}`);
  if (j.worker) parts.push(`on ${j.worker}`);
  if (j.stalled) parts.push(`(taken back from a dead worker ${j.stalled}×)`);
  if (j.error) parts.push(`error: ${j.error}`);
  return parts.join('  ');
}

function toCsv(rows: Record<string, unknown>[]): string {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c])).join(','))].join('\n');
}
