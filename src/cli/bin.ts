import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { saveNpy, writeFileAtomic } from '../io/files.js';
import { selectTrials } from '../io/nwb-bin.js';
import { checkWritable, loadBinnedNwb, trialsOption, NWB_OPTIONS, NWB_USAGE } from './common.js';

export const summary = 'bin the spikes (and behaviour) of an NWB session into .npy arrays for other tools';

const USAGE = `lowrank-smc bin session.nwb --out X.npy [binning options] [--json]
writes X.npy             held-in spike counts (trial, time, unit), float32
       X.heldout.npy     held-out counts (with --held-out-neurons)
       X.forward.npy / X.forward-heldout.npy   forward-prediction bins (with --forward-ms)
       X.<series>.npy    each behaviour series resampled to the bins (trial, time, dim); '/' in names becomes '_'
       X.json            what the arrays hold: units (and their electrodes' rows, locations and groups when the file
                         has an electrodes table), split and source row of each trial, window starts, conditions`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' }, ...NWB_OPTIONS },
  });
  if (values.help) {
    console.log(`${USAGE}\n\n${NWB_USAGE}`);
    return 0;
  }
  if (positionals.length !== 1) throw new Error('give exactly one NWB file\n\n' + USAGE);
  if (!values.out || !values.out.endsWith('.npy')) throw new Error('--out X.npy is required (the other files are named after it)');
  await checkWritable(values.out, 'output');
  const keep = trialsOption(values.trials);
  const source = positionals[0];
  const binned = await loadBinnedNwb(source, values);
  // --trials: only the trials of those splits are written
  const kept = binned.split.flatMap((s, k) => (keep.includes(s) ? [k] : []));
  if (kept.length === 0) throw new Error(`${source}: no ${values.trials} trials in the split`);
  const sel = <T extends { data: Float32Array; trials: number; time: number; channels: number }>(ds: T) => selectTrials(ds, binned.split, keep);
  const b = {
    ...binned,
    trials: kept.length,
    heldInCounts: sel(binned.heldInCounts),
    heldOutCounts: binned.heldOutCounts && sel(binned.heldOutCounts),
    inputs: binned.inputs && sel(binned.inputs),
    forward: binned.forward && {
      heldIn: sel(binned.forward.heldIn),
      heldOut: binned.forward.heldOut && sel(binned.forward.heldOut),
      inputs: binned.forward.inputs && sel(binned.forward.inputs),
    },
    behaviour: binned.behaviour.map((s) => ({ name: s.name, data: sel(s.data) })),
    split: kept.map((k) => binned.split[k]),
    trialRows: kept.map((k) => binned.trialRows[k]),
    windowStart: Float64Array.from(kept, (k) => binned.windowStart[k]),
    condition: binned.condition && kept.map((k) => binned.condition![k]),
  };
  const stem = values.out.slice(0, -'.npy'.length);
  const files: string[] = [];
  const save = async (path: string, ds: { data: Float32Array; trials: number; time: number; channels: number }) => {
    await saveNpy(path, ds.data, [ds.trials, ds.time, ds.channels]);
    files.push(path);
  };
  await save(values.out, b.heldInCounts);
  if (b.heldOutCounts) await save(`${stem}.heldout.npy`, b.heldOutCounts);
  if (b.forward) {
    await save(`${stem}.forward.npy`, b.forward.heldIn);
    if (b.forward.heldOut) await save(`${stem}.forward-heldout.npy`, b.forward.heldOut);
  }
  const behaviour = [];
  for (const s of b.behaviour) {
    const file = `${stem}.${s.name.replace(/\//g, '_')}.npy`;
    await save(file, s.data);
    behaviour.push({ name: s.name, file: basename(file), dim: s.data.channels });
  }
  const meta = {
    source: basename(source),
    bin_ms: b.binSeconds * 1000,
    trials: b.trials,
    time: b.time,
    held_in_units: b.heldIn,
    held_out_units: b.heldOut,
    split: b.split,
    trial_rows: b.trialRows,
    window_start_s: Array.from(b.windowStart),
    condition: b.condition,
    // where each unit was recorded (held-in units, then held-out), from the electrodes table
    unit_electrodes: b.electrodes && [...b.heldIn, ...b.heldOut].map((u) => ({ unit: u, ...b.electrodes![u] })),
    behaviour,
    skipped: b.skipped,
  };
  await writeFileAtomic(`${stem}.json`, JSON.stringify(meta, null, 1));
  files.push(`${stem}.json`);
  const counts = { train: 0, val: 0, test: 0 };
  for (const s of b.split) counts[s]++;
  if (values.json)
    console.log(
      JSON.stringify({ files, trials: b.trials, time: b.time, held_in: b.heldIn.length, held_out: b.heldOut.length, split: counts, skipped: b.skipped.length }),
    );
  else {
    console.log(
      `${source}: ${b.trials} trial(s) × ${b.time} bins of ${b.binSeconds * 1000} ms; ${b.heldIn.length} held-in, ${b.heldOut.length} held-out units; split ${counts.train}/${counts.val}/${counts.test} (train/val/test)${b.skipped.length ? `; ${b.skipped.length} trial(s) skipped` : ''}`,
    );
    if (b.electrodes) {
      const groups = new Map<string, number>();
      for (const u of [...b.heldIn, ...b.heldOut]) for (const g of new Set(b.electrodes[u].group)) groups.set(g, (groups.get(g) ?? 0) + 1);
      console.log(`units by electrode group: ${[...groups].map(([g, n]) => `${g || '(unnamed)'} ${n}`).join(', ')}`);
    }
    console.log(`wrote ${files.join(', ')}`);
  }
  return 0;
}
