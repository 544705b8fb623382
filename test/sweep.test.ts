// Sweeps on BullMQ (no GPU): sweep files rejected with clear errors before anything is enqueued,
// the store's path checks, Redis authentication and TLS, 200 jobs over 4 workers none lost or
// duplicated, and a Redis crash during a sweep that loses nothing acknowledged. Tests start their
// own redis-server on a loopback port (test/redis-server.ts).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeNpy } from '../src/io/npy.js';
import { SweepSpecError, expandJobs, parseSweepSpec } from '../src/sweep/spec.js';
import { addData, insideStore, openStore } from '../src/sweep/store.js';
import { checkRedis } from '../src/sweep/redis.js';
import { submitSweep, sweepStatus, cancelSweep, resultRows } from '../src/sweep/queue.js';
import { runWorker, type WorkerHandle } from '../src/sweep/worker.js';
import { startRedis, type TestRedis } from './redis-server.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const HASH = 'a'.repeat(64);

let work: string;
let store: string;
let sha256: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lowrank-smc-sweep-'));
  store = join(work, 'store');
  await mkdir(store);
  const y = new Float32Array(2 * 20 * 3).map((_, i) => Math.sin(0.37 * i));
  await writeFile(join(work, 'y.npy'), encodeNpy(y, [2, 20, 3]));
  sha256 = (await addData(await openStore(store), join(work, 'y.npy'))).sha256;
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const sweep = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ data: { sha256, layout: 'trial,time,channel' }, fit: { iters: 2, units: 4, rank: 2 }, ...over });

/** The problems a sweep file is rejected with. */
function problems(text: string): string[] {
  try {
    parseSweepSpec(text, 's.json');
  } catch (e) {
    if (e instanceof SweepSpecError) return e.problems;
    throw e;
  }
  return [];
}

describe('sweep files', () => {
  test('rejects unknown options, wrong types, paths out of the store and a missing data hash, naming each', () => {
    expect(problems(sweep({ fit: { iters: 2, partcles: 4 } }))).toEqual([expect.stringMatching(/^fit: unknown fit option "partcles"/)]);
    expect(problems(sweep({ fit: { lr: '0.01' } }))).toEqual(['fit.lr: must be a number, got "0.01"']);
    expect(problems(sweep({ fit: { rank: 2.5 } }))).toEqual(['fit.rank: must be an integer, got 2.5']);
    expect(problems(sweep({ grid: { proposal: ['optimal', 'smart'] } }))).toEqual([
      'grid.proposal[1]: must be one of optimal, bootstrap, encoder, got "smart"',
    ]);
    expect(problems(sweep({ fit: { 'encoder-kernels': '14,4,x', 'encoder-channels': 0 } }))).toEqual([
      'fit.encoder-kernels: must be positive integers separated by commas, e.g. "14,4,2", got "14,4,x"',
      'fit.encoder-channels: must be positive integers separated by commas, e.g. "14,4,2", got 0',
    ]);
    expect(problems(sweep({ fit: { 'encoder-kernels': '14, 4,2', 'encoder-channels': 64 } }))).toEqual([]);
    expect(problems(sweep({ grid: { seed: [] } }))).toEqual(['grid.seed: must be a non-empty list of values, got an array']);
    expect(problems(sweep({ random: { count: 3, space: { batch: { uniform: [1, 4] } } } }))).toEqual([
      'random.space.batch: an integer option needs "int-uniform" or "choice", not "uniform"',
    ]);
    expect(problems(sweep({ random: { count: 3, space: { lr: { 'log-uniform': [0, 1] } } } }))).toEqual([
      'random.space.lr: log-uniform: bounds must be > 0, got [0,1]',
    ]);
    expect(problems(sweep({ evaluation: {} }))).toEqual([expect.stringMatching(/^sweep: unknown option "evaluation"/)]);
    expect(problems(JSON.stringify({ fit: {} }))).toEqual(['data: required object { "sha256": ..., "layout": ... }, got undefined']);
    expect(problems(JSON.stringify({ data: { layout: 'time,channel' } }))).toEqual([
      'data: missing data hash ("sha256", or a "path" inside the store to hash)',
    ]);
    expect(problems(JSON.stringify({ data: { sha256: 'abc' } }))).toEqual(['data.sha256: must be 64 lower-case hex digits, got "abc"']);
    expect(problems(JSON.stringify({ data: { path: '../../etc/passwd' } }))).toEqual(['data.path: "../../etc/passwd" leaves the store root (..)']);
    expect(problems(JSON.stringify({ data: { path: '/etc/passwd' } }))).toEqual(['data.path: "/etc/passwd" is absolute; paths are relative to the store root']);
    expect(problems('{"data": ')).toEqual([expect.stringMatching(/^not valid JSON/)]);
    // all problems at once
    expect(problems(JSON.stringify({ data: {}, fit: { lr: -1, nope: 1 } }))).toHaveLength(3);
  });

  test('expands grid × random draws deterministically over the fixed options', () => {
    const spec = parseSweepSpec(
      sweep({
        grid: { particles: [1, 10], seed: [0, 1, 2] },
        random: { count: 2, seed: 7, space: { lr: { 'log-uniform': [1e-4, 1e-2] }, batch: { 'int-uniform': [1, 3] } } },
      }),
    );
    const jobs = expandJobs(spec);
    expect(jobs).toHaveLength(12);
    expect(jobs.slice(0, 3).map((j) => [j.particles, j.seed])).toEqual([
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
    for (const j of jobs) {
      expect(j.iters).toBe(2);
      expect(j.lr as number).toBeGreaterThanOrEqual(1e-4);
      expect(j.lr as number).toBeLessThanOrEqual(1e-2);
      expect([1, 2, 3]).toContain(j.batch);
    }
    // the first 6 jobs share draw 0, the last 6 draw 1, and the draws differ
    expect(new Set(jobs.slice(0, 6).map((j) => j.lr)).size).toBe(1);
    expect(jobs[0].lr).not.toBe(jobs[6].lr);
    expect(expandJobs(spec)).toEqual(jobs);
  });
});

describe('store', () => {
  test('resolves paths inside the root only, also through symbolic links', async () => {
    const s = await openStore(store);
    await writeFile(join(work, 'outside.npy'), 'x');
    await symlink(join(work, 'outside.npy'), join(store, 'escape.npy'));
    await expect(insideStore(s, 'escape.npy')).rejects.toThrow(/path outside the store: escape\.npy resolves to .*outside\.npy, outside/);
    await expect(insideStore(s, '../outside.npy')).rejects.toThrow(/leaves the store root/);
    await expect(insideStore(s, 'data/' + sha256 + '.npy')).resolves.toBe(join(s.root, 'data', sha256 + '.npy'));
  });
});

describe('with redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  async function keys(): Promise<string[]> {
    const c = new Redis(redis.url);
    try {
      return await c.keys('*');
    } finally {
      c.disconnect();
    }
  }

  test('bad sweeps are rejected before anything reaches Redis', async () => {
    const conn = { redis: redis.url, store };
    await expect(submitSweep(sweep({ fit: { particles: 0 } }), conn, 's.json')).rejects.toThrow('fit.particles: must be ≥ 1, got 0');
    // the store's root is read first: awaiting it inside toThrow's argument would leave the rejection unhandled meanwhile
    const storeRoot = await openStore(store).then((s) => s.root);
    await expect(submitSweep(JSON.stringify({ data: { sha256: HASH } }), conn, 's.json')).rejects.toThrow(
      `s.json: missing data hash: the store ${storeRoot} holds no data ${HASH}`,
    );
    await expect(submitSweep(JSON.stringify({ data: { path: 'escape.npy' } }), conn, 's.json')).rejects.toThrow(/s\.json: data\.path: path outside the store/);
    // valid JSON and types, but a combination `fit` refuses (the optimal proposal needs Gaussian identity observations)
    await expect(submitSweep(sweep({ fit: { 'obs-link': 'softplus', proposal: 'optimal' } }), conn, 's.json')).rejects.toThrow(
      /job 0 .*--proposal optimal needs --obs gauss with --obs-link identity/,
    );
    await expect(submitSweep(sweep({ fit: { obs: 'poisson' } }), conn, 's.json')).rejects.toThrow(
      /job 0 .*Poisson observations need non-negative integer counts/,
    );
    expect(await keys()).toEqual([]);
  });

  test('200 tiny jobs over 4 workers: every job runs exactly once (reports jobs/s)', async () => {
    const seeds = Array.from({ length: 200 }, (_, i) => i);
    const { id, jobs } = await submitSweep(sweep({ grid: { seed: seeds } }), { redis: redis.url, store }, 's.json');
    expect(jobs).toBe(200);
    const ran: string[] = [];
    const t0 = performance.now();
    const workers: WorkerHandle[] = await Promise.all(
      [0, 1, 2, 3].map((w) =>
        runWorker({ redis: redis.url, store, name: `w${w}`, process: async (job) => (ran.push(job.id!), { seed: job.data.options.seed }) }),
      ),
    );
    try {
      while (ran.length < 200) await new Promise((r) => setTimeout(r, 10));
      const seconds = (performance.now() - t0) / 1000;
      console.log(`200 jobs over 4 workers (one process, 4 connections): ${(200 / seconds).toFixed(0)} jobs/s`);
      let status = await sweepStatus(id, { redis: redis.url });
      while ((status.counts.completed ?? 0) < 200) {
        await new Promise((r) => setTimeout(r, 100));
        status = await sweepStatus(id, { redis: redis.url });
      }
      expect(ran.length).toBe(200);
      expect(new Set(ran).size).toBe(200);
      const rows = resultRows(status);
      expect(rows.map((r) => r.seed)).toEqual(seeds);
      expect(new Set(rows.map((r) => r.worker)).size).toBeGreaterThan(1);
      // the same sweep again names the same jobs: nothing new is queued
      const again = await submitSweep(sweep({ grid: { seed: seeds } }), { redis: redis.url, store }, 's.json');
      expect(again).toMatchObject({ id, existing: 200 });
      await new Promise((r) => setTimeout(r, 300));
      expect(ran.length).toBe(200);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
  }, 90_000);

  test('a Redis crash (SIGKILL) and restart mid-sweep loses nothing acknowledged', async () => {
    const seeds = Array.from({ length: 60 }, (_, i) => 1000 + i);
    const { id } = await submitSweep(sweep({ grid: { seed: seeds } }), { redis: redis.url, store }, 's.json');
    const done = new Set<number>();
    const workers = await Promise.all(
      [0, 1].map((w) =>
        runWorker({
          redis: redis.url,
          store,
          name: `r${w}`,
          // a job active at the crash keeps its lock in the restored append-only file: short locks and stall checks
          // hand it back within seconds instead of the production default's minutes
          lockDurationMs: 4_000,
          stalledIntervalMs: 1_000,
          process: async (job) => {
            await new Promise((r) => setTimeout(r, 20));
            return { seed: job.data.options.seed };
          },
        }),
      ),
    );
    try {
      while ((await sweepStatus(id, { redis: redis.url })).counts.completed! < 15) await new Promise((r) => setTimeout(r, 50));
      const before = await sweepStatus(id, { redis: redis.url });
      for (const j of before.jobs) if (j.state === 'completed') done.add(j.index);
      await redis.crashAndRestart();
      let after = await sweepStatus(id, { redis: redis.url });
      // everything acknowledged before the crash is still there
      for (const i of done) expect(after.jobs[i]).toMatchObject({ state: 'completed', result: { seed: 1000 + i } });
      const deadline = Date.now() + 60_000;
      while ((after.counts.completed ?? 0) < 60 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        after = await sweepStatus(id, { redis: redis.url });
      }
      expect(after.counts).toEqual({ completed: 60 });
      expect(resultRows(after).map((r) => r.seed)).toEqual(seeds);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
  }, 90_000);

  test('a job whose stored data no longer matches its hash fails once with the message, not retried', async () => {
    // its own server: jobs an earlier test left behind must not reach this worker
    const redis = await startRedis();
    const other = join(work, 'other.npy');
    await writeFile(
      other,
      encodeNpy(
        new Float32Array(2 * 20 * 3).map((_, i) => Math.cos(i)),
        [2, 20, 3],
      ),
    );
    const s = await openStore(store);
    const { sha256: h, path } = await addData(s, other);
    const { id } = await submitSweep(
      JSON.stringify({ data: { sha256: h, layout: 'trial,time,channel' }, fit: { iters: 2 } }),
      { redis: redis.url, store },
      's.json',
    );
    await writeFile(path, encodeNpy(new Float32Array(2 * 20 * 3), [2, 20, 3])); // the stored file is replaced behind the store's back
    const logged: string[] = [];
    const w = await runWorker({ redis: redis.url, store, name: 'v', log: (l) => logged.push(l) });
    try {
      let st = await sweepStatus(id, { redis: redis.url });
      while (st.jobs[0].state !== 'failed') {
        await new Promise((r) => setTimeout(r, 100));
        st = await sweepStatus(id, { redis: redis.url });
      }
      expect(st.jobs[0].error).toMatch(
        new RegExp(`^data .*${h}\\.npy: sha256 is [0-9a-f]{64}, the sweep expects ${h} \\(the stored file was changed or corrupted\\)$`),
      );
      await new Promise((r) => setTimeout(r, 500));
      expect(logged.filter((l) => l.includes('started'))).toHaveLength(1);
      expect((await sweepStatus(id, { redis: redis.url })).jobs[0].state).toBe('failed');
    } finally {
      await w.close();
      await redis.stop();
    }
  });

  test('cancel removes queued jobs', async () => {
    const { id } = await submitSweep(sweep({ grid: { seed: [5000, 5001, 5002] } }), { redis: redis.url, store }, 's.json');
    expect(await cancelSweep(id, { redis: redis.url })).toEqual({ removed: 3, running: 0 });
    const s = await sweepStatus(id, { redis: redis.url });
    expect(s.cancelled).toBe(true);
    expect(s.counts).toEqual({ removed: 3 });
    expect(resultRows(s).map((r) => [r.state, r.seed])).toEqual([
      ['removed', 5000],
      ['removed', 5001],
      ['removed', 5002],
    ]);
  });
});

describe('redis connections', () => {
  test('password and ACL user: a wrong password is a clear error that does not print it', async () => {
    const r = await startRedis(['--requirepass', 'right-pw']);
    try {
      const url = (auth: string) => `redis://${auth}@127.0.0.1:${r.port}`;
      await expect(checkRedis(url(':right-pw'))).resolves.toBeUndefined();
      const err = await checkRedis(url(':wrong-pw')).catch((e: Error) => e);
      expect((err as Error).message).toMatch(/^redis redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/?: authentication failed \(wrong password or ACL user\)/);
      expect((err as Error).message).not.toContain('wrong-pw');
      const admin = new Redis(url(':right-pw'));
      await admin.call('ACL', 'SETUSER', 'lab', 'on', '>lab-pw', '~*', '&*', '+@all');
      admin.disconnect();
      await expect(checkRedis(url('lab:lab-pw'))).resolves.toBeUndefined();
      await expect(checkRedis(url('lab:nope'))).rejects.toThrow(/authentication failed \(wrong password or ACL user "lab"\)/);
      await expect(checkRedis(`redis://127.0.0.1:1`)).rejects.toThrow(/connection refused/);
      await expect(checkRedis(`http://127.0.0.1:${r.port}`)).rejects.toThrow('--redis: unsupported scheme "http:" (redis:// or rediss://)');
    } finally {
      await r.stop();
    }
  });

  test('rediss:// (TLS): connects when the server certificate is trusted, a clear error when not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-tls-'));
    const run = promisify(execFile);
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    const r = await startRedis(['--tls-cert-file', join(dir, 'cert.pem'), '--tls-key-file', join(dir, 'key.pem'), '--tls-auth-clients', 'no'], { tls: true });
    try {
      // the CLI in a process whose trust store has the test CA (Node reads NODE_EXTRA_CA_CERTS at start)
      const cli = (env: Record<string, string>) =>
        run(process.execPath, [join(root, 'bin', 'lowrank-smc.js'), 'sweep', 'status', 'nosuchsweep', '--redis', r.url], {
          env: { ...process.env, ...env },
        }).then(
          () => '',
          (e: { stderr: string }) => e.stderr,
        );
      expect(await cli({ NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') })).toContain('no sweep nosuchsweep in this Redis');
      expect(await cli({})).toMatch(/TLS handshake failed: .*self[- ]signed certificate/);
    } finally {
      await r.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
