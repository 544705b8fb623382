// FitSession (typed fit events, pause / resume / stop) and the web app's demo models, under Node on
// the software adapter: tiny sizes, one engine for the whole file.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createEngine, findFixedPoints, fixedPointsOfFitted, teacherToRnn, type Engine, type FitEvent, type TeacherFile } from '../../src/index.js';
import { FitSession, type FitSessionOptions } from '../../src/inference/fit-session.js';
import { latentFlow, oscillatorModel, simulateDataset, teacherModel } from '../../src/web/demo.js';
import { LowRankRNN, DEFAULT_CONFIG } from '../../src/models/lowrank-rnn.js';
import type { Dataset } from '../../src/io/dataset.js';
import { sharedData } from '../shared-data.js';

let engine: Engine;
let data: Dataset;

beforeAll(async () => {
  engine = await createEngine();
  const teacher = oscillatorModel(engine, { units: 12, obsDim: 3, seed: 5 });
  data = await simulateDataset(teacher, 2, 40, 5);
  teacher.dispose();
}, 120_000);

afterAll(() => engine?.destroy());

const OPTIONS: FitSessionOptions = { iterations: 30, particles: 4, batch: 2, window: 20, proposal: 'optimal', seed: 3, lr: 0.01, logEvery: 1 };
const newModel = () => LowRankRNN.create(engine, { ...DEFAULT_CONFIG, rank: 2, units: 8, obsDim: 3 }, 9);

describe('FitSession', () => {
  test('delivers every progress event to listeners and to the async iterator, then done', async () => {
    const model = newModel();
    const session = new FitSession(engine, model, data, null, { ...OPTIONS, iterations: 4 });
    const heard: number[] = [];
    session.on('progress', (e) => heard.push(e.progress.iteration));
    const iterated: FitEvent[] = [];
    const consumer = (async () => {
      for await (const e of session) iterated.push(e);
    })();
    expect(session.state).toBe('ready');
    const result = await session.start();
    await consumer;
    expect(heard).toEqual([1, 2, 3, 4]);
    expect(iterated.map((e) => e.type)).toEqual(['progress', 'progress', 'progress', 'progress', 'done']);
    const done = iterated[4] as Extract<FitEvent, { type: 'done' }>;
    expect(done.stopped).toBe(false);
    expect(done.result).toBe(result);
    expect(result.history.map((h) => h.loss)).toEqual(iterated.slice(0, 4).map((e) => (e as Extract<FitEvent, { type: 'progress' }>).progress.loss));
    expect(session.state).toBe('done');
    expect(await session.start()).toBe(result); // start() is idempotent
    model.dispose();
  }, 120_000);

  test('pause holds the fit at a readback, resume continues, stop ends it early', async () => {
    const model = newModel();
    const session = new FitSession(engine, model, data, null, OPTIONS);
    const log: string[] = [];
    let pausedAt = -1;
    session.on('progress', (e) => {
      log.push(`p${e.progress.iteration}`);
      if (e.progress.iteration === 2) session.pause();
      if (e.progress.iteration === 5) session.stop();
    });
    session.on('paused', (e) => {
      pausedAt = e.iteration;
      log.push('paused');
      // Nothing may run while paused; resume after a while.
      setTimeout(() => {
        log.push('resume');
        expect(session.state).toBe('paused');
        session.resume();
      }, 300);
    });
    session.on('resumed', () => log.push('resumed'));
    const done = new Promise<Extract<FitEvent, { type: 'done' }>>((ok) => session.on('done', ok));
    const result = await session.start();
    expect(pausedAt).toBe(2);
    expect(log).toEqual(['p1', 'p2', 'paused', 'resume', 'resumed', 'p3', 'p4', 'p5']);
    expect(result.iterations).toBe(5);
    expect(result.history).toHaveLength(5);
    expect((await done).stopped).toBe(true);
    expect(session.state).toBe('done');
    model.dispose();
  }, 120_000);

  test('a failing fit rejects start(), emits failed and throws from the iterator', async () => {
    const model = newModel();
    const session = new FitSession(engine, model, data, null, { ...OPTIONS, window: 41 });
    const failed = new Promise<Error>((ok) => session.on('failed', (e) => ok(e.error)));
    const iterator = session[Symbol.asyncIterator]();
    await expect(session.start()).rejects.toThrow('window 41 must be an integer in [1, 40]');
    expect((await failed).message).toContain('window 41');
    await expect(iterator.next()).rejects.toThrow('window 41');
    expect(session.state).toBe('failed');
    model.dispose();
  }, 60_000);
});

describe('web demo models', () => {
  test('the simulated oscillator linearises to growth × rotation at the origin', async () => {
    const period = 25;
    const growth = 1.04;
    const model = oscillatorModel(engine, { units: 16, obsDim: 8, period, growth, seed: 2 });
    const p = await model.hostParams();
    const a = Math.exp(-Math.exp(p.thetaA[0]));
    // Jacobian at 0 of z' = a z + Σ_i n_i tanh(m_i·z): a I + Σ_i n_i m_iᵀ.
    const J = [a, 0, 0, a];
    for (let i = 0; i < 16; i++) for (let r = 0; r < 2; r++) for (let q = 0; q < 2; q++) J[r * 2 + q] += p.n[i * 2 + r] * p.m[i * 2 + q];
    const th = (2 * Math.PI) / period;
    const want = [growth * Math.cos(th), -growth * Math.sin(th), growth * Math.sin(th), growth * Math.cos(th)];
    J.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    // Its samples oscillate with bounded amplitude: the latent radius stays away from 0 and ∞.
    const flow = await latentFlow(model, 2, 0.2, 300);
    const radius = (s: number, t: number) => Math.hypot(flow.z[(s * 300 + t) * 2], flow.z[(s * 300 + t) * 2 + 1]);
    for (const s of [0, 1]) {
      expect(radius(s, 299)).toBeGreaterThan(0.3);
      expect(radius(s, 299)).toBeLessThan(10);
    }
    model.dispose();
  }, 60_000);

  test("a teacher file as a LowRankRNN has the teacher map's 17 fixed points", async () => {
    const teacher = JSON.parse(readFileSync(sharedData('teacher_reach_rank2.json'), 'utf8')) as TeacherFile;
    const model = teacherModel(engine, teacher);
    const viaModel = await fixedPointsOfFitted(null, model, undefined, { backend: 'cpu' });
    const direct = await findFixedPoints(null, teacherToRnn(teacher), { backend: 'cpu' });
    const count = (s: string) => viaModel.points.filter((x) => x.stability === s).length;
    expect([viaModel.count, count('stable'), count('saddle'), count('unstable')]).toEqual([17, 8, 8, 1]);
    // Same points (float32 parameters in the model: agree to ~1e-5).
    viaModel.points.forEach((x, i) => x.z.forEach((v, r) => expect(v).toBeCloseTo(direct.points[i].z[r], 4)));
    // The noise-free flow from a stable fixed point stays there.
    const stable = viaModel.points.find((x) => x.stability === 'stable')!;
    const g = await import('../../src/analysis/generate.js').then((m) =>
      m.generate(model, { steps: 50, sequences: 1, initial: { states: Float32Array.from(stable.z) }, noiseScale: 0 }),
    );
    expect(Math.hypot(g.z[98] - stable.z[0], g.z[99] - stable.z[1])).toBeLessThan(1e-4);
    model.dispose();
  }, 60_000);
});
