// The simulated spiking maze session (src/analysis/motor-spikes.ts): trial structure, spike rates at
// the given rates (fixed-seed statistics), behaviour, and a round trip through the NWB writer, reader
// and binning.
import { describe, expect, test } from 'vitest';
import { motorSpikeSession, type MotorRates } from '../src/analysis/motor-spikes.js';
import { binSession } from '../src/io/nwb-bin.js';
import { parseNwb, writeNwb } from '../src/io/nwb.js';

/** Two conditions, 3 neurons, 100 samples of 2 ms (20 of preparation): neuron i fires at +20·i Hz in condition 1 only. */
function tiny(): MotorRates {
  const conditions = 2;
  const time = 100;
  const n = 3;
  const rates = new Float64Array(conditions * time * n);
  const outputs = new Float64Array(conditions * time * 2);
  for (let t = 0; t < time; t++) {
    for (let i = 0; i < n; i++) rates[(time + t) * n + i] = 20 * i;
    outputs[t * 2] = 0.5; // condition 0 moves right, condition 1 up
    outputs[(time + t) * 2 + 1] = 0.25;
  }
  return { conditions, time, prepSamples: 20, dt: 2, angles: [0, Math.PI / 2], rates, outputs, muscles: 2 };
}

describe('simulated spiking maze session', () => {
  test('trials, rates, behaviour and held-out units; NWB round trip and binning', async () => {
    const d = tiny();
    const spec = motorSpikeSession(d, { trialsPerCondition: 100, restMs: 100, heldOut: 1, seed: 4 });
    const s = await parseNwb(await writeNwb(spec), 'maze-sim.nwb');
    expect(s.trials!.count).toBe(200);
    expect(s.units.count).toBe(3);
    expect(s.units.columns.heldout.reduce((a: number, v) => a + (v as number), 0)).toBe(1);
    expect(s.electrodes!.count).toBe(3);
    expect(s.units.columns.electrodes).toEqual([[0], [1], [2]]);
    // each block of two trials holds both conditions; trials last 200 ms after a 100 ms rest
    const type = s.trials!.columns.trial_type as number[];
    for (let b = 0; b < 100; b++) expect([type[2 * b], type[2 * b + 1]].sort()).toEqual([0, 1]);
    expect(s.trials!.start[0]).toBeCloseTo(0.1, 12);
    expect(s.trials!.start[1] - s.trials!.start[0]).toBeCloseTo(0.3, 12);
    expect((s.trials!.columns.move_onset_time[0] as number) - s.trials!.start[0]).toBeCloseTo(0.04, 12);
    // spike times lie on the 1 ms grid
    for (const st of s.units.spikeTimes) for (const t of st.subarray(0, 50)) expect(Math.abs(t * 1000 - Math.round(t * 1000))).toBeLessThan(1e-9);
    // rates: 20 Hz at rest and in condition 0; 20 + 20 i Hz in condition 1 (Poisson: ± 3 sd of the count)
    const b = binSession(s, { binMs: 200, align: 'start_time', window: [0, 200], condition: ['trial_type'], behaviour: ['hand_vel'] });
    for (let i = 0; i < 3; i++) {
      for (const c of ['0', '1']) {
        let count = 0;
        b.condition!.forEach((cc, k) => {
          if (cc === c) count += b.heldInCounts.data[k * 3 + i];
        });
        const expected = (c === '1' ? 20 + 20 * i : 20) * 0.2 * 100;
        expect(Math.abs(count - expected)).toBeLessThan(3 * Math.sqrt(expected));
      }
    }
    // velocity: outputs × 100 during the trial, 0 at rest
    const rest = binSession(s, { binMs: 100, align: 'start_time', window: [-100, 200], behaviour: ['hand_vel'] });
    const v = rest.behaviour[0].data.data;
    const k1 = (s.trials!.columns.trial_type as number[])[0] === 1 ? 0 : 1; // a condition-1 trial
    // the rest bin's mean sees only the half-sample ramp from the last rest sample (0) to the trial's first (25)
    expect(v[(k1 * 3 + 0) * 2 + 1]).toBeCloseTo((25 * 0.001) / 0.1, 9);
    expect(v[(k1 * 3 + 1) * 2 + 1]).toBeCloseTo(25, 9);
    expect(v[(k1 * 3 + 1) * 2]).toBeCloseTo(0, 9);
  });

  test('bad options are refused', () => {
    expect(() => motorSpikeSession(tiny(), { neurons: 4 })).toThrow(/neurons must be an integer in 2…3/);
    expect(() => motorSpikeSession(tiny(), { heldOut: 3 })).toThrow(/held-out units must be in 0…2/);
  });
});
