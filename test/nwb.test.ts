// NWB reading and binning (src/io/nwb.ts, src/io/nwb-bin.ts) on files the tests write with h5wasm in the
// MC_Maze and hippocampal layouts: exact spike times, counts against a direct count, edges of the
// alignment windows and the behaviour resampling, reproducible splits, and clear errors.
import { describe, expect, test } from 'vitest';
import { binSession, drawSplit, selectTrials } from '../src/io/nwb-bin.js';
import { parseNwb, unitElectrodes, writeNwb } from '../src/io/nwb.js';
import { mazeSession, writeHippocampal, writeMaze } from './nwb-files.js';

const maze = mazeSession();

/** Count of spikes of one unit in [lo, hi): the definition the binning must match. */
const direct = (times: Float64Array, lo: number, hi: number) => times.filter((t) => t >= lo && t < hi).length;

describe('NWB reader', () => {
  test('MC_Maze layout: spike times, obs_intervals, unit columns, trials and behaviour come back exactly', async () => {
    const s = await parseNwb(await writeMaze(maze), 'maze.nwb');
    expect(s.units.count).toBe(6);
    s.units.spikeTimes.forEach((st, u) => expect(Array.from(st)).toEqual(Array.from(maze.spikeTimes[u])));
    expect(Array.from(s.units.obsIntervals![2])).toEqual([0, maze.duration]);
    expect(s.units.columns.heldout).toEqual(maze.heldout);
    expect(s.units.columns.electrodes).toEqual([0, 1, 2, 3, 4, 5]);
    // the electrodes table: every column but the object references to the groups
    expect(s.electrodes!.count).toBe(6);
    expect(Object.keys(s.electrodes!.columns).sort()).toEqual(['filtering', 'group_name', 'imp', 'location', 'x', 'y', 'z']);
    expect(s.electrodes!.columns.location).toEqual(['M1', 'M1', 'M1', 'PMd', 'PMd', 'PMd']);
    expect(s.electrodes!.columns.x[4]).toBeCloseTo(1.6, 12);
    expect(unitElectrodes(s)![4]).toEqual({ rows: [4], location: ['PMd'], group: ['PMd array'] });
    expect(s.trials!.count).toBe(8);
    expect(Array.from(s.trials!.start)).toEqual(maze.trialStart);
    expect(s.trials!.columns.move_onset_time.map((v) => (Number.isNaN(v) ? null : v))).toEqual(maze.moveOnset.map((v) => (Number.isNaN(v) ? null : v)));
    expect(s.trials!.columns.split).toEqual(maze.split);
    expect(s.trials!.columns.trial_type).toEqual(maze.trialType);
    expect(s.extentFrom).toBe('obs_intervals');
    expect(s.extent).toEqual([0, maze.duration]);
    const vel = s.behaviour.find((b) => b.name === 'hand_vel')!;
    expect(vel.dim).toBe(2);
    expect(vel.unit).toBe('mm/s');
    expect(vel.data[2 * 1500]).toBeCloseTo(2 * 1.5 - 1, 12);
    // conversion applied: hand_pos was stored in m with conversion 1000
    const pos = s.behaviour.find((b) => b.name === 'hand_pos')!;
    expect(pos.data[2 * 1500 + 1]).toBeCloseTo(-0.5 * 1.5 + 3, 9);
  });

  test('hippocampal layout: container group, rate + starting_time, string quality column', async () => {
    const h = await writeHippocampal();
    const s = await parseNwb(h.bytes, 'hc.nwb');
    expect(s.trials).toBeNull();
    s.units.spikeTimes.forEach((st, u) => expect(Array.from(st)).toEqual(Array.from(h.spikeTimes[u])));
    expect(s.units.columns.quality).toEqual(['good', 'good', 'mua', 'good']);
    const p = s.behaviour[0];
    expect(p.name).toBe('Position/position');
    expect(p.timestamps[0]).toBe(h.start);
    expect(p.timestamps[10]).toBeCloseTo(h.start + 10 / h.rate, 12);
    expect(Array.from(p.data)).toEqual(Array.from(h.position));
  });

  test('the library writer round-trips through the reader', async () => {
    const bytes = await writeNwb({
      identifier: 'rt',
      description: 'round trip',
      spikeTimes: maze.spikeTimes,
      obsInterval: [0, maze.duration],
      unitColumns: { heldout: maze.heldout },
      // a unit on two electrodes, the rest on one each
      electrodes: { location: ['M1', 'M1', 'PMd'], group: ['A', 'A', 'B'], columns: { x: [0, 0.4, 0.8] }, ofUnit: [[0], [0, 1], [2], [1], [2], [2]] },
      trials: { start: maze.trialStart, stop: maze.trialStop, columns: { move_onset_time: maze.moveOnset, split: maze.split } },
      behaviour: [{ name: 'hand_vel', data: [1, 2, 3, 4], dim: 2, timestamps: [0, maze.duration] }],
    });
    const s = await parseNwb(bytes, 'rt.nwb');
    s.units.spikeTimes.forEach((st, u) => expect(Array.from(st)).toEqual(Array.from(maze.spikeTimes[u])));
    expect(s.units.columns.heldout).toEqual(maze.heldout);
    expect(s.trials!.columns.split).toEqual(maze.split);
    expect(Array.from(s.behaviour[0].data)).toEqual([1, 2, 3, 4]);
    expect(s.electrodes!.columns).toEqual({ location: ['M1', 'M1', 'PMd'], group_name: ['A', 'A', 'B'], x: [0, 0.4, 0.8] });
    expect(unitElectrodes(s)!.map((e) => e.rows)).toEqual([[0], [0, 1], [2], [1], [2], [2]]);
    expect(unitElectrodes(s)![1]).toEqual({ rows: [0, 1], location: ['M1', 'M1'], group: ['A', 'A'] });
    // a unit on an electrode row the table does not have
    const bad = await writeNwb({
      identifier: 'bad',
      description: 'bad electrode',
      spikeTimes: [[0.1], [0.2]],
      electrodes: { location: ['M1'], group: ['A'], ofUnit: [[0], [3]] },
    });
    await expect(parseNwb(bad, 'bad.nwb')).rejects.toThrow(/bad\.nwb: units table: unit 1 refers to electrode row 3, but the electrodes table has 1 rows/);
    // no electrodes table: nothing to name
    expect(unitElectrodes(await parseNwb((await writeHippocampal()).bytes, 'hc.nwb'))).toBeNull();
  });

  test('errors: not HDF5, truncated, corrupt, not NWB, missing units, empty units, trials outside the recording', async () => {
    const good = await writeMaze(maze);
    await expect(parseNwb(new TextEncoder().encode('hello, not HDF5'), 'x.nwb')).rejects.toThrow(/x\.nwb: not an HDF5 file/);
    await expect(parseNwb(new Uint8Array(0), 'x.nwb')).rejects.toThrow(/x\.nwb: empty file/);
    await expect(parseNwb(good.slice(0, Math.floor(good.length / 2)), 'cut.nwb')).rejects.toThrow(/cut\.nwb: truncated HDF5 file \(\d+ of \d+ bytes\)/);
    const corrupt = good.slice();
    corrupt.fill(0xff, 200, 4000); // object headers overwritten: the signature survives, the structure does not
    await expect(parseNwb(corrupt, 'bad.nwb')).rejects.toThrow(/bad\.nwb: corrupt HDF5 file/);
    const plain = await (async () => {
      const { default: h5 } = await import('h5wasm');
      const m = await h5.ready;
      const f = new h5.File('/plain.h5', 'w');
      f.create_dataset({ name: 'x', data: new Float64Array(3) });
      f.close();
      const b = m.FS!.readFile('/plain.h5') as Uint8Array;
      m.FS!.unlink('/plain.h5');
      return b;
    })();
    await expect(parseNwb(plain, 'plain.h5')).rejects.toThrow(/plain\.h5: an HDF5 file but not NWB/);
    await expect(parseNwb(await writeMaze(maze, { omitUnits: true }), 'nu.nwb')).rejects.toThrow(/nu\.nwb: no units table/);
    await expect(parseNwb(await writeMaze(maze, { emptyUnits: true }), 'eu.nwb')).rejects.toThrow(/eu\.nwb: units table is empty/);
    const late = { ...maze, trialStop: maze.trialStop.map((t, k) => (k === 5 ? maze.duration + 1 : t)) };
    await expect(parseNwb(await writeMaze(late), 'late.nwb')).rejects.toThrow(/late\.nwb: trial 5 \[5\.25, 9\.5\] s lies outside the recording \[0, 8\.5\] s/);
    const s = await parseNwb(await writeMaze(maze, { omitTrials: true }), 'nt.nwb');
    expect(() => binSession(s, { binMs: 20, align: 'move_onset_time', window: [-250, 450] })).toThrow(/nt\.nwb: no trials table/);
  });
});

describe('binning', () => {
  test('aligned windows: counts equal a direct count, edges included, NaN events skipped', async () => {
    const s = await parseNwb(await writeMaze(maze), 'maze.nwb');
    const b = binSession(s, { binMs: 20, align: 'move_onset_time', window: [-250, 450], split: { fractions: [1, 0, 0] } });
    expect(b.time).toBe(35);
    expect(b.trialRows).toEqual([0, 1, 2, 4, 5, 6, 7]);
    expect(b.skipped).toEqual([{ row: 3, reason: 'no move_onset_time' }]);
    let total = 0;
    b.trialRows.forEach((row, k) => {
      const start = maze.moveOnset[row] - 0.25;
      expect(b.windowStart[k]).toBe(start);
      for (let i = 0; i < b.time; i++) {
        for (let c = 0; c < b.heldIn.length; c++) {
          const want = direct(maze.spikeTimes[b.heldIn[c]], start + i * 0.02, start + (i + 1) * 0.02);
          expect(b.heldInCounts.data[(k * b.time + i) * b.heldIn.length + c]).toBe(want);
          total += want;
        }
      }
    });
    expect(total).toBeGreaterThan(100);
    // a spike exactly on a bin edge counts in the later bin
    const edge = { ...maze, spikeTimes: maze.spikeTimes.map((st, u) => (u === 0 ? Float64Array.from([1.0, 1.02, 1.04 - 1e-12]) : st)) };
    const c = binSession(await parseNwb(await writeMaze(edge), 'edge.nwb'), { binMs: 20, windowMs: 1000 });
    // window 1 = [1, 2): spikes at 1.0 (bin 0), 1.02 (bin 1), 1.04 - 1e-12 (bin 1)
    expect([0, 1, 2].map((i) => c.heldInCounts.data[(1 * 50 + i) * 6])).toEqual([1, 2, 0]);
    expect(c.trials).toBe(8);
  });

  test('held-out units: count from a seed (reproducible), a list, or the file; neurons split accordingly', async () => {
    const s = await parseNwb(await writeMaze(maze), 'maze.nwb');
    const opts = { binMs: 50, align: 'start_time', window: [0, 500] as [number, number] };
    const a = binSession(s, { ...opts, heldOut: { count: 2 }, seed: 5 });
    const b = binSession(s, { ...opts, heldOut: { count: 2 }, seed: 5 });
    expect(a.heldOut).toEqual(b.heldOut);
    expect(a.heldOut.length).toBe(2);
    const seeds = new Set(Array.from({ length: 10 }, (_, i) => binSession(s, { ...opts, heldOut: { count: 2 }, seed: i }).heldOut.join(',')));
    expect(seeds.size).toBeGreaterThan(2);
    const f = binSession(s, { ...opts, heldOut: 'file' });
    expect(f.heldOut).toEqual([2, 5]);
    expect(f.heldIn).toEqual([0, 1, 3, 4]);
    expect(f.heldOutCounts!.channels).toBe(2);
    // held-out counts are those of units 2 and 5
    const st = maze.spikeTimes[5];
    expect(f.heldOutCounts!.data[(2 * 10 + 3) * 2 + 1]).toBe(direct(st, maze.trialStart[2] + 0.15, maze.trialStart[2] + 0.2));
    expect(binSession(s, { ...opts, heldOut: { units: [4, 1] } }).heldOut).toEqual([1, 4]);
    expect(() => binSession(s, { ...opts, heldOut: { units: [9] } })).toThrow(/held-out unit 9 does not exist/);
    expect(() => binSession(s, { ...opts, heldOut: { count: 6 } })).toThrow(/cannot hold out 6 of 6 units/);
  });

  test('trial splits: the file split column (dropping none) and a seeded split are reproducible', async () => {
    const s = await parseNwb(await writeMaze(maze), 'maze.nwb');
    const b = binSession(s, { binMs: 50, align: 'start_time', window: [0, 500], split: 'file' });
    expect(b.trialRows).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(b.split).toEqual(['train', 'train', 'train', 'val', 'train', 'train', 'train']);
    expect(b.skipped).toEqual([{ row: 7, reason: "split 'none'" }]);
    expect(drawSplit(20, [0.5, 0.25, 0.25], 3)).toEqual(drawSplit(20, [0.5, 0.25, 0.25], 3));
    const d = drawSplit(20, [0.5, 0.25, 0.25], 3);
    expect(d.filter((x) => x === 'val').length).toBe(5);
    expect(d.filter((x) => x === 'test').length).toBe(5);
    expect(drawSplit(20, [0.5, 0.25, 0.25], 4)).not.toEqual(d);
    const val = selectTrials(b.heldInCounts, b.split, ['val']);
    expect(val.trials).toBe(1);
    expect(Array.from(val.data)).toEqual(Array.from(b.heldInCounts.data.subarray(3 * 10 * 6, 4 * 10 * 6)));
  });

  test('behaviour resampled to bins: linear velocity gives its value at bin centres, also in the first and last bins', async () => {
    const s = await parseNwb(await writeMaze(maze), 'maze.nwb');
    const b = binSession(s, { binMs: 20, align: 'move_onset_time', window: [-250, 450], behaviour: ['hand_vel'] });
    const v = b.behaviour[0].data;
    const { a, b: b0, c, d } = maze.velocity;
    for (let k = 0; k < b.trials; k++) {
      for (const i of [0, 1, 17, b.time - 1]) {
        const t = b.windowStart[k] + (i + 0.5) * 0.02;
        expect(v.data[(k * b.time + i) * 2]).toBeCloseTo(a * t + b0, 4);
        expect(v.data[(k * b.time + i) * 2 + 1]).toBeCloseTo(c * t + d, 4);
      }
    }
    // the hippocampal position (39 Hz, slower than the 10 ms bins) is interpolated, not left empty
    const h = await writeHippocampal();
    const hs = await parseNwb(h.bytes, 'hc.nwb');
    const hb = binSession(hs, { binMs: 10, windowMs: 1000 });
    const t = hb.windowStart[1] + 0.5 * 0.01; // a bin inside one sample interval: interpolant mean = value at centre
    const j = Math.floor((t - h.start) * h.rate);
    const f = (t - (h.start + j / h.rate)) * h.rate;
    expect(hb.behaviour[0].data.data[100]).toBeCloseTo(h.position[j] * (1 - f) + h.position[j + 1] * f, 5);
    expect(hb.trials).toBe(Math.floor(400 / h.rate));
  });

  test('model inputs from behaviour series: side by side, over the window and on into the forward bins', async () => {
    const s = await parseNwb(await writeMaze(maze), 'maze.nwb');
    const b = binSession(s, { binMs: 20, align: 'move_onset_time', window: [-250, 450], forwardMs: 100, inputs: ['hand_vel', 'hand_pos'], behaviour: [] });
    const { a, b: b0, c, d } = maze.velocity;
    expect(b.inputs!.channels).toBe(4);
    expect(b.behaviour).toEqual([]);
    expect([b.inputs!.time, b.forward!.inputs!.time]).toEqual([35, 5]);
    for (let k = 0; k < b.trials; k++) {
      for (const i of [0, 34, 35, 39]) {
        // linear velocity: the bin mean is the value at the bin centre; hand_pos holds the same values (in mm)
        const t = b.windowStart[k] + (i + 0.5) * 0.02;
        const [arr, row] = i < 35 ? [b.inputs!, k * 35 + i] : [b.forward!.inputs!, k * 5 + i - 35];
        const got = Array.from(arr.data.subarray(row * 4, row * 4 + 4));
        [a * t + b0, c * t + d, a * t + b0, c * t + d].forEach((want, j) => expect(got[j]).toBeCloseTo(want, 4));
      }
    }
    expect(() => binSession(s, { binMs: 20, windowMs: 1000, inputs: ['cue'] })).toThrow(/no behaviour series 'cue'/);
  });

  test('windows past the recording or the behaviour, and bad windows, stop with clear errors', async () => {
    const s = await parseNwb(await writeMaze(maze), 'maze.nwb');
    expect(() => binSession(s, { binMs: 20, align: 'start_time', window: [-300, 700] })).toThrow(
      /maze\.nwb: trial 0's window \[-0\.0500, 0\.9500\) s lies outside the recording \[0, 8\.5\] s/,
    );
    expect(() => binSession(s, { binMs: 30, align: 'start_time', window: [0, 100] })).toThrow(/not a whole number of 30 ms bins/);
    expect(() => binSession(s, { binMs: 20, align: 'go_cue_time', window: [0, 100] })).toThrow(/no column 'go_cue_time'/);
    expect(() => binSession(s, { binMs: 20, align: 'start_time' })).toThrow(/needs a window/);
    expect(() => binSession(s, { binMs: 20, align: 'start_time', window: [0, 100], behaviour: ['eye_pos'] })).toThrow(
      /no behaviour series 'eye_pos'.*found: hand_pos, hand_vel/,
    );
  });
});

describe('lowrank-smc bin', () => {
  test('writes held-in, held-out and behaviour arrays and a description equal to binSession', async () => {
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { parseNpy } = await import('../src/io/npy.js');
    const { run } = await import('../src/cli/bin.js');
    const dir = mkdtempSync(join(tmpdir(), 'lowrank-smc-nwb-'));
    try {
      const bytes = await writeMaze(maze);
      const file = join(dir, 'maze.nwb');
      writeFileSync(file, bytes);
      const args = [
        '--bin-ms',
        '20',
        '--align',
        'move_onset_time',
        '--align-window=-250,450',
        '--held-out-neurons',
        'file',
        '--behaviour',
        'hand_vel',
        '--condition',
        'trial_type',
      ];
      const log = console.log;
      const printed: string[] = [];
      console.log = (s: string) => printed.push(s);
      try {
        expect(await run([file, '--out', join(dir, 'x.npy'), '--json', ...args])).toBe(0);
      } finally {
        console.log = log;
      }
      const b = binSession(await parseNwb(bytes, file), {
        binMs: 20,
        align: 'move_onset_time',
        window: [-250, 450],
        heldOut: 'file',
        split: 'file',
        behaviour: ['hand_vel'],
        condition: ['trial_type'],
      });
      const npy = (name: string) => parseNpy(readFileSync(join(dir, name)), name);
      expect(npy('x.npy').shape).toEqual([b.trials, 35, 4]);
      expect(Array.from(npy('x.npy').data)).toEqual(Array.from(b.heldInCounts.data));
      expect(Array.from(npy('x.heldout.npy').data)).toEqual(Array.from(b.heldOutCounts!.data));
      expect(Array.from(npy('x.hand_vel.npy').data)).toEqual(Array.from(b.behaviour[0].data.data));
      const meta = JSON.parse(readFileSync(join(dir, 'x.json'), 'utf8'));
      expect(meta.held_out_units).toEqual([2, 5]);
      expect(meta.split).toEqual(b.split);
      expect(meta.trial_rows).toEqual([0, 1, 2, 4, 5, 6]); // row 3 has no move onset, row 7 is in no split
      expect(meta.condition).toEqual(['0', '1', '2', '1', '2', '0']);
      // held-in units, then held-out ones, with where they were recorded
      expect(meta.unit_electrodes.map((e: { unit: number }) => e.unit)).toEqual([0, 1, 3, 4, 2, 5]);
      expect(meta.unit_electrodes[3]).toEqual({ unit: 4, rows: [4], location: ['PMd'], group: ['PMd array'] });
      expect(JSON.parse(printed[0]).split).toEqual({ train: 6, val: 0, test: 0 });
      // --trials: only those splits' trials are written
      printed.length = 0;
      console.log = (s: string) => printed.push(s);
      try {
        await run([file, '--out', join(dir, 'v.npy'), '--bin-ms', '50', '--align', 'start_time', '--align-window', '0,500', '--trials', 'val', '--json']);
      } finally {
        console.log = log;
      }
      expect(npy('v.npy').shape).toEqual([1, 10, 6]);
      expect(JSON.parse(readFileSync(join(dir, 'v.json'), 'utf8')).trial_rows).toEqual([3]);
      expect(Array.from(npy('v.npy').data.subarray(0, 6))).toEqual(maze.spikeTimes.map((st) => direct(st, maze.trialStart[3], maze.trialStart[3] + 0.05)));
      // fit / filter / eval read the same held-in counts, restricted to --trials
      const { loadObservations } = await import('../src/cli/common.js');
      const ds = await loadObservations(file, undefined, 'poisson', {
        'bin-ms': '20',
        align: 'move_onset_time',
        'align-window': '-250,450',
        'held-out-neurons': 'file',
        trials: 'train',
      });
      expect(ds.trials).toBe(6);
      expect(Array.from(ds.data)).toEqual(Array.from(b.heldInCounts.data));
      await expect(
        loadObservations(file, undefined, 'poisson', { 'bin-ms': '20', align: 'move_onset_time', 'align-window': '-250,450', trials: 'val' }),
      ).rejects.toThrow(/no val trials/);
      await expect(loadObservations(file, undefined, 'poisson', { trials: 'training' })).rejects.toThrow(/--trials must be all or a list of train, val, test/);
      // --inputs with NWB data names behaviour series, binned like the counts, the same trials
      const { loadInputs } = await import('../src/cli/common.js');
      const nwbOpts = { 'bin-ms': '20', align: 'move_onset_time', 'align-window': '-250,450', 'held-out-neurons': 'file', trials: 'train' };
      const u = await loadInputs('hand_vel', undefined, ds, file, nwbOpts);
      expect([u!.trials, u!.time, u!.channels]).toEqual([6, 35, 2]);
      expect(Array.from(u!.data)).toEqual(Array.from(b.behaviour[0].data.data));
      await expect(loadInputs('hand_vel', 'trial,time,channel', ds, file, nwbOpts)).rejects.toThrow(/--inputs-layout does not apply/);
      await expect(run([file, '--out', join(dir, 'y.npy'), '--align', 'move_onset_time'])).rejects.toThrow(/--align move_onset_time needs --align-window/);
      await expect(run([join(dir, 'none.nwb'), '--out', join(dir, 'y.npy')])).rejects.toThrow(/none\.nwb: file not found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lowrank-smc eval-spikes, eval and generate checks (before any GPU work)', () => {
  test('fit --held-in-channels with NWB data: the held-in units then the held-out ones; a count other than the held-in units is refused', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { heldInThenOutCounts } = await import('../src/cli/common.js');
    const { run: fitCli } = await import('../src/cli/fit.js');
    const dir = mkdtempSync(join(tmpdir(), 'lowrank-smc-nwb-'));
    try {
      const file = join(dir, 'maze.nwb');
      writeFileSync(file, await writeMaze(maze));
      const binning = { align: 'move_onset_time', 'align-window': '-250,450', 'held-out-neurons': 'file', trials: 'train' };
      const ds = await heldInThenOutCounts(file, binning, '4');
      const b = binSession(await parseNwb(await writeMaze(maze), 'maze.nwb'), {
        binMs: 20,
        align: 'move_onset_time',
        window: [-250, 450],
        heldOut: 'file',
        split: 'file',
      });
      const heldIn = selectTrials(b.heldInCounts, b.split, ['train']);
      const heldOut = selectTrials(b.heldOutCounts!, b.split, ['train']);
      expect([ds.trials, ds.time, ds.channels]).toEqual([heldIn.trials, 35, 6]);
      for (let r = 0; r < ds.trials * ds.time; r++) {
        expect(Array.from(ds.data.subarray(r * 6, r * 6 + 4))).toEqual(Array.from(heldIn.data.subarray(r * 4, r * 4 + 4)));
        expect(Array.from(ds.data.subarray(r * 6 + 4, r * 6 + 6))).toEqual(Array.from(heldOut.data.subarray(r * 2, r * 2 + 2)));
      }
      const fit = (heldInChannels: string, heldOut = 'file') =>
        fitCli([
          ...['--data', file, '--obs', 'poisson', '--noise', 'diag', '--proposal', 'encoder', '--encoder-kernels', '2,1', '--encoder-channels', '4'],
          ...['--align', 'move_onset_time', '--align-window=-250,450', '--held-out-neurons', heldOut, '--held-in-channels', heldInChannels],
          ...['--out', join(dir, 'm.json'), '--backend', 'no-such-backend'],
        ]);
      await expect(fit('3')).rejects.toThrow(/--held-in-channels 3: .*maze\.nwb has 4 held-in and 2 held-out units; with NWB data the channels are/);
      await expect(fit('6', '0')).rejects.toThrow(/--held-in-channels 6: .*maze\.nwb has no held-out units with these options/);
      // the right count passes every check and reaches the engine
      await expect(fit('4')).rejects.toThrow(/no-such-backend/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a model with inputs needs --inputs naming session series of its input width; a model without refuses them', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { run } = await import('../src/cli/eval-spikes.js');
    const { DEFAULT_CONFIG, initialParams } = await import('../src/models/lowrank-rnn.js');
    const { serializeModel } = await import('../src/models/model-file.js');
    const dir = mkdtempSync(join(tmpdir(), 'lowrank-smc-nwb-'));
    try {
      const file = join(dir, 'maze.nwb');
      writeFileSync(file, await writeMaze(maze));
      const model = (name: string, inputDim: number) => {
        const config = { ...DEFAULT_CONFIG, rank: 2, units: 8, obsDim: 4, inputDim, obs: 'poisson' as const, obsNonlinearity: 'softplus' as const };
        writeFileSync(join(dir, name), JSON.stringify(serializeModel(config, initialParams(config, 0), null, null)));
        return join(dir, name);
      };
      const withInputs = model('u.json', 2);
      const args = (m: string) => [
        '--model',
        m,
        '--data',
        file,
        '--align',
        'move_onset_time',
        '--align-window=-250,450',
        '--held-out-neurons',
        'file',
        '--backend',
        'no-such-backend',
      ];
      await expect(run(args(withInputs))).rejects.toThrow(/u\.json: the model takes 2 input\(s\); name the session's behaviour series .*--inputs/);
      await expect(run([...args(withInputs), '--inputs', 'x.npy'])).rejects.toThrow(/eval-spikes bins the inputs from the session/);
      await expect(run([...args(withInputs), '--inputs', 'hand_vel,hand_pos'])).rejects.toThrow(
        /takes 2 input\(s\) but --inputs hand_vel,hand_pos has 4 dimension\(s\)/,
      );
      await expect(run([...args(withInputs), '--inputs', 'cue'])).rejects.toThrow(/no behaviour series 'cue'/);
      await expect(run([...args(model('n.json', 0)), '--inputs', 'hand_vel'])).rejects.toThrow(/n\.json: the model takes no inputs/);
      await expect(run([...args(withInputs), '--forward-samples', '0'])).rejects.toThrow(/--forward-samples must be ≥ 1/);
      // eval and generate read inputs from the session the same way, and check them before any GPU work
      const evalCli = (await import('../src/cli/eval.js')).run;
      const generateCli = (await import('../src/cli/generate.js')).run;
      const binning = ['--align', 'move_onset_time', '--align-window=-250,450', '--held-out-neurons', 'file', '--backend', 'no-such-backend'];
      await expect(evalCli(['--model', withInputs, '--data', file, ...binning])).rejects.toThrow(/takes 2 input\(s\); give the data's --inputs/);
      await expect(evalCli(['--model', withInputs, '--data', file, '--inputs', 'hand_vel', '--init', 'posterior', ...binning])).rejects.toThrow(
        /with --inputs each trial starts from the prior/,
      );
      await expect(evalCli(['--model', withInputs, '--data', file, '--inputs', 'hand_vel,hand_pos', ...binning])).rejects.toThrow(
        /--inputs hand_vel,hand_pos: 4 input channel\(s\), the model takes 2/,
      );
      await expect(evalCli(['--model', model('n.json', 0), '--data', file, '--inputs', 'hand_vel', ...binning])).rejects.toThrow(
        /takes no inputs; drop --inputs/,
      );
      const out = join(dir, 'g.npy');
      await expect(generateCli(['--model', withInputs, '--steps', '35', '--out', out, '--inputs', 'hand_vel', '--backend', 'no-such-backend'])).rejects.toThrow(
        /series names need --data session\.nwb/,
      );
      await expect(generateCli(['--model', withInputs, '--steps', '20', '--out', out, '--data', file, '--inputs', 'hand_vel', ...binning])).rejects.toThrow(
        /the session's windows have 35 bins, --steps is 20/,
      );
      await expect(
        generateCli(['--model', withInputs, '--steps', '35', '--out', out, '--data', file, '--inputs', 'hand_vel,hand_pos', ...binning]),
      ).rejects.toThrow(/4 input channel\(s\), the model takes 2/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
