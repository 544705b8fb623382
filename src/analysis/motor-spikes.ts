/**
 * A spiking benchmark session made from the motor-circuit simulation, in the MC_Maze layout: the
 * circuit's condition-wise rates (Hz above a baseline) drive inhomogeneous Poisson spike trains at
 * 1 ms resolution, trials of the reach conditions follow each other with a rest period before each
 * (baseline rates, hand at rest), and the session carries trials (move onset, condition, target,
 * split), held-out units and hand velocity / position / the condition input as behaviour.
 */
import type { NwbWriteSpec } from '../io/nwb.js';
import { drawSplit } from '../io/nwb-bin.js';
import { mulberry32 } from '../util/random.js';

/** What is needed of the simulation (sparse/circuit's MotorData has these fields). */
export interface MotorRates {
  conditions: number;
  time: number;
  prepSamples: number;
  /** Sample step (ms). */
  dt: number;
  angles: number[];
  /** conditions × time × neurons, Hz relative to baseline. */
  rates: Float64Array;
  /** conditions × time × muscles outputs; channels 0 and 1 are the hand velocity. */
  outputs: Float64Array;
  muscles: number;
}

export interface MotorSpikeOptions {
  trialsPerCondition?: number;
  /** Neurons recorded (the first this many of the circuit's; default all). */
  neurons?: number;
  /** Baseline rate added to the relative rates (Hz, default 20: the circuit's r0). */
  baselineHz?: number;
  /** Rest before each trial (ms, default 300). */
  restMs?: number;
  heldOut?: number;
  /** Velocity scale: hand velocity = scale · outputs[0, 1] (default 100). */
  velocityScale?: number;
  split?: [number, number, number];
  seed?: number;
}

export function motorSpikeSession(d: MotorRates, o: MotorSpikeOptions = {}): NwbWriteSpec {
  const n = d.rates.length / (d.conditions * d.time);
  const neurons = o.neurons ?? n;
  const perCondition = o.trialsPerCondition ?? 20;
  const baseline = o.baselineHz ?? 20;
  const restMs = o.restMs ?? 300;
  const heldOutCount = o.heldOut ?? Math.round(neurons / 4);
  const scale = o.velocityScale ?? 100;
  const seed = o.seed ?? 1;
  if (!Number.isInteger(neurons) || neurons < 2 || neurons > n)
    throw new Error(`simulate-motor --spikes: neurons must be an integer in 2…${n}, got ${neurons}`);
  if (!Number.isInteger(perCondition) || perCondition < 1)
    throw new Error(`simulate-motor --spikes: trials per condition must be a positive integer, got ${perCondition}`);
  if (!Number.isInteger(heldOutCount) || heldOutCount < 0 || heldOutCount >= neurons)
    throw new Error(`simulate-motor --spikes: held-out units must be in 0…${neurons - 1}, got ${heldOutCount}`);
  if (!Number.isInteger(d.dt) || d.dt < 1) throw new Error(`simulate-motor --spikes: the sample step must be a whole number of ms, got ${d.dt}`);
  if (d.muscles < 2) throw new Error('simulate-motor --spikes: hand velocity needs at least 2 output channels');
  const rand = mulberry32(seed);
  const trials = d.conditions * perCondition;
  // condition order: each block of C trials is a permutation of the conditions
  const condition: number[] = [];
  for (let b = 0; b < perCondition; b++) {
    const p = Array.from({ length: d.conditions }, (_, c) => c);
    for (let i = p.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [p[i], p[j]] = [p[j], p[i]];
    }
    condition.push(...p);
  }
  const restSteps = Math.round(restMs / d.dt);
  const trialSteps = restSteps + d.time; // samples of dt ms per trial, rest first
  const totalSteps = trials * trialSteps + restSteps; // and a rest after the last trial
  const spikes: number[][] = Array.from({ length: neurons }, () => []);
  const vel = new Float64Array(totalSteps * 2);
  const cue = new Float64Array(totalSteps * 2);
  const start: number[] = [];
  for (let s = 0; s < totalSteps; s++) {
    const k = Math.floor(s / trialSteps);
    const t = (s % trialSteps) - restSteps; // sample within the trial, < 0 at rest
    const inTrial = k < trials && t >= 0;
    const c = condition[k];
    if (k < trials && t === 0) start.push((s * d.dt) / 1000);
    if (inTrial) {
      const o = (c * d.time + t) * d.muscles;
      vel[2 * s] = scale * d.outputs[o];
      vel[2 * s + 1] = scale * d.outputs[o + 1];
      if (t < d.prepSamples) {
        cue[2 * s] = Math.cos(d.angles[c]);
        cue[2 * s + 1] = Math.sin(d.angles[c]);
      }
    }
    // 1 ms Bernoulli steps at the sample's rate (≤ rmax·1 ms, well below 1)
    for (let ms = 0; ms < d.dt; ms++) {
      const time = (s * d.dt + ms) / 1000;
      for (let i = 0; i < neurons; i++) {
        const rate = Math.max(0, baseline + (inTrial ? d.rates[(c * d.time + t) * n + i] : 0));
        if (rand() < rate / 1000) spikes[i].push(time);
      }
    }
  }
  const timestamps = Float64Array.from({ length: totalSteps }, (_, s) => (s * d.dt) / 1000);
  const pos = new Float64Array(totalSteps * 2);
  for (let s = 1; s < totalSteps; s++) for (let j = 0; j < 2; j++) pos[2 * s + j] = pos[2 * (s - 1) + j] + (vel[2 * (s - 1) + j] * d.dt) / 1000;
  const trialMs = d.time * d.dt;
  const split = drawSplit(trials, o.split ?? [0.7, 0.15, 0.15], seed);
  const held = new Array<number>(neurons).fill(0);
  const order = Array.from({ length: neurons }, (_, i) => i);
  for (let i = neurons - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (const i of order.slice(0, heldOutCount)) held[i] = 1;
  return {
    identifier: `lowrank-smc simulate-motor seed ${seed}`,
    description: `motor-circuit simulation: ${neurons} Poisson units at 1 ms, ${d.conditions} reach conditions × ${perCondition} trials`,
    spikeTimes: spikes,
    obsInterval: [0, (totalSteps * d.dt) / 1000],
    unitColumns: { heldout: held },
    // one electrode per unit, as a sorted recording would have (the simulation has no array geometry)
    electrodes: {
      location: held.map(() => 'simulated motor circuit'),
      group: held.map(() => 'simulated'),
      ofUnit: held.map((_, i) => [i]),
    },
    trials: {
      start,
      stop: start.map((s) => s + trialMs / 1000),
      columns: {
        move_onset_time: start.map((s) => s + (d.prepSamples * d.dt) / 1000),
        target_on_time: start,
        trial_type: condition,
        target_angle: condition.map((c) => d.angles[c]),
        split,
      },
    },
    behaviour: [
      { name: 'hand_vel', data: vel, dim: 2, timestamps, unit: 'a.u./s' },
      { name: 'hand_pos', data: pos, dim: 2, timestamps, unit: 'a.u.' },
      { name: 'condition_input', data: cue, dim: 2, timestamps, unit: '(cos θ, sin θ) during preparation' },
    ],
  };
}
