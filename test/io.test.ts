// Data I/O: .npy against NumPy-written fixtures, CSV, layouts and validation, atomic writes.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { formatCsv, parseCsv } from '../src/io/csv.js';
import { channelStats, denormalise, normalise, toCanonical, validateInputs, validateObservations, zscore, type Dataset } from '../src/io/dataset.js';
import { createAtomicFile, loadArray, loadDataset, saveNpy, writeFileAtomic } from '../src/io/files.js';
import { encodeNpy, halfToFloat, npyBody, npyHeader, parseNpy } from '../src/io/npy.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'npy');
const EEG = join(import.meta.dirname, '..', '..', 'shared', 'data', 'eeg_s001r01_smoothed.npy');
const fixture = (name: string) => parseNpy(readFileSync(join(FIXTURES, name)), name);

/** Same formula as make-npy-fixtures.py: C-order flat index i holds i * scale + offset. */
const ramp = (n: number, scale: number, offset: number) => Array.from({ length: n }, (_, i) => i * scale + offset);

const scratch = mkdtempSync(join(tmpdir(), 'lowrank-smc-io-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('npy reader (NumPy-written fixtures)', () => {
  const cases: [file: string, dtype: string, shape: number[], values: number[], ctor: string][] = [
    ['f4_c_2x3.npy', 'f4', [2, 3], ramp(6, 0.5, -1), 'Float32Array'],
    ['f8_be_3x2x2.npy', 'f8', [3, 2, 2], ramp(12, 0.25, 0), 'Float64Array'],
    ['f4_fortran_3x4.npy', 'f4', [3, 4], ramp(12, 1, 0), 'Float32Array'],
    ['i8_fortran_2x3x4.npy', 'i8', [2, 3, 4], ramp(24, 1, -10), 'Float64Array'],
    ['f8_be_fortran_2x2x2x3.npy', 'f8', [2, 2, 2, 3], ramp(24, -1.5, 7), 'Float64Array'],
    ['i1_4.npy', 'i1', [4], ramp(4, 1, -2), 'Int8Array'],
    ['u1_4.npy', 'u1', [4], ramp(4, 60, 10), 'Uint8Array'],
    ['i2_be_2x2.npy', 'i2', [2, 2], ramp(4, -1000, 500), 'Int16Array'],
    ['u2_3.npy', 'u2', [3], ramp(3, 30000, 1), 'Uint16Array'],
    ['i4_2x2.npy', 'i4', [2, 2], ramp(4, -100000, 3), 'Int32Array'],
    ['u4_be_3.npy', 'u4', [3], ramp(3, 2000000000, 5), 'Uint32Array'],
    ['u8_2.npy', 'u8', [2], [0, 2 ** 53 - 1], 'Float64Array'],
    ['b1_5.npy', 'b1', [5], [1, 0, 1, 1, 0], 'Uint8Array'],
    ['f2_be_2x2.npy', 'f2', [2, 2], ramp(4, 0.25, -0.5), 'Float32Array'],
    ['f4_scalar.npy', 'f4', [], [3.5], 'Float32Array'],
    ['f4_empty_0x3.npy', 'f4', [0, 3], [], 'Float32Array'],
    ['f4_v2_2x3.npy', 'f4', [2, 3], ramp(6, 0.5, -1), 'Float32Array'],
    ['f4_v3_2x3.npy', 'f4', [2, 3], ramp(6, 0.5, -1), 'Float32Array'],
  ];
  for (const [file, dtype, shape, values, ctor] of cases) {
    test(file, () => {
      const a = fixture(file);
      expect(a.dtype).toBe(dtype);
      expect(a.shape).toEqual(shape);
      expect(a.data.constructor.name).toBe(ctor);
      expect(Array.from(a.data)).toEqual(values);
    });
  }

  test('f2 special values: subnormal, max, Inf, NaN', () => {
    const a = fixture('f2_special.npy');
    expect(Array.from(a.data)).toEqual([0, 1, -2, 0.5, 65504, 2 ** -24, Infinity, NaN]);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(halfToFloat(0x8000)).toBe(-0);
    expect(halfToFloat(0x3555)).toBeCloseTo(1 / 3, 3);
  });

  test('real EEG file: (9640, 64) float32, z-scored per channel', () => {
    const a = parseNpy(readFileSync(EEG), 'eeg');
    expect(a.dtype).toBe('f4');
    expect(a.shape).toEqual([9640, 64]);
    const ds = toCanonical(a, 'time,channel', 'eeg');
    expect([ds.trials, ds.time, ds.channels]).toEqual([1, 9640, 64]);
    const { mean, std } = channelStats(ds);
    for (let c = 0; c < 64; c++) {
      expect(Math.abs(mean[c])).toBeLessThan(1e-3);
      expect(Math.abs(std[c] - 1)).toBeLessThan(1e-3);
    }
  });
});

describe('npy errors', () => {
  const good = readFileSync(join(FIXTURES, 'f4_c_2x3.npy'));
  test('bad magic', () => {
    expect(() => parseNpy(new TextEncoder().encode('PK\x03\x04 not numpy'), 'x.npy')).toThrow(/x\.npy: bad magic/);
  });
  test('unsupported dtype names the descr', () => {
    expect(() => fixture('c8_2.npy')).toThrow(/c8_2\.npy: unsupported dtype '<c8'/);
  });
  test('truncated data names expected and found bytes', () => {
    const cut = good.subarray(0, good.length - 5);
    expect(() => parseNpy(cut, 'cut.npy')).toThrow('cut.npy: truncated data: expected 24 bytes found 19');
  });
  test('truncated header, unknown version, trailing bytes', () => {
    expect(() => parseNpy(good.subarray(0, 40), 'h.npy')).toThrow(/h\.npy: truncated header/);
    const v9 = Uint8Array.from(good);
    v9[6] = 9;
    expect(() => parseNpy(v9, 'v.npy')).toThrow(/unsupported \.npy format version 9\.0/);
    const extra = new Uint8Array(good.length + 4);
    extra.set(good);
    expect(() => parseNpy(extra, 'e.npy')).toThrow(/4 unexpected bytes after the data/);
  });
  test('structured dtype is refused clearly', () => {
    const dict = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }";
    const bytes = new Uint8Array(10 + dict.length + 4);
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    new DataView(bytes.buffer).setUint16(8, dict.length, true);
    bytes.set(new TextEncoder().encode(dict), 10);
    expect(() => parseNpy(bytes, 's.npy')).toThrow(/structured arrays/);
  });
});

describe('npy writer', () => {
  test('round trip f4, f8, i4 at ranks 0-3; header padded to 64 bytes', () => {
    const arrays = [
      [Float32Array.from(ramp(24, 0.1, -1)), [2, 3, 4]],
      [Float64Array.from(ramp(5, Math.PI, 0)), [5]],
      [Int32Array.from(ramp(6, -7, 2 ** 30)), [3, 2]],
      [Float32Array.of(2.5), []],
      [new Float64Array(0), [0, 4]],
    ] as const;
    for (const [data, shape] of arrays) {
      const bytes = encodeNpy(data, shape);
      expect(bytes[6]).toBe(1);
      const headerLen = bytes[8] | (bytes[9] << 8);
      expect((10 + headerLen) % 64).toBe(0);
      const back = parseNpy(bytes);
      expect(back.shape).toEqual([...shape]);
      expect(back.data.constructor).toBe(data.constructor);
      expect(Array.from(back.data)).toEqual(Array.from(data));
    }
  });
  test('header text is what NumPy writes', () => {
    const bytes = encodeNpy(new Float32Array(6), [2, 3]);
    const header = new TextDecoder().decode(bytes.subarray(10, 10 + (bytes[8] | (bytes[9] << 8))));
    expect(header.trimEnd()).toBe("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    expect(header.endsWith('\n')).toBe(true);
  });
  test('shape mismatch is an error', () => {
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(/5 values do not fill shape \[2, 3\]/);
  });
});

describe('csv', () => {
  test('comma with header, comments and blank lines', () => {
    const t = parseCsv('# recorded 2024\nch1,ch2,ch3\n\n1,2,3\n4.5, -6e-1 ,7 # trailing note\n\r\n', 'a.csv');
    expect(t.header).toEqual(['ch1', 'ch2', 'ch3']);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4.5, -0.6, 7]);
    expect(t.delimiter).toBe(',');
  });
  test('delimiters: semicolon, tab, whitespace; CRLF; quoted header', () => {
    expect(parseCsv('"a";"b"\r\n1;2\r\n3;4\r\n').delimiter).toBe(';');
    expect(parseCsv('"a";"b"\r\n1;2\r\n3;4\r\n').header).toEqual(['a', 'b']);
    const tab = parseCsv('1\t2\n3\t4\n');
    expect([tab.delimiter, ...tab.data]).toEqual(['\t', 1, 2, 3, 4]);
    const mixed = parseCsv('  1   2  3\n4 5\t6\n'); // detected from the first line; tabs are whitespace too
    expect([mixed.delimiter, ...mixed.data]).toEqual(['whitespace', 1, 2, 3, 4, 5, 6]);
    const spaces = parseCsv('  1   2  3\n 4 5 6\n');
    expect([spaces.delimiter, ...spaces.shape, ...spaces.data]).toEqual(['whitespace', 2, 3, 1, 2, 3, 4, 5, 6]);
  });
  test('NaN and Inf spellings parse (validation reports them later)', () => {
    const t = parseCsv('nan,inf,-Inf,Infinity,NaN\n');
    expect(Array.from(t.data)).toEqual([NaN, Infinity, -Infinity, Infinity, NaN]);
  });
  test('errors name line and column', () => {
    expect(() => parseCsv('a,b\n1,2\n3,x\n', 'f.csv')).toThrow("f.csv: line 3, column 2: 'x' is not a number");
    expect(() => parseCsv('1,2\n3,4,5\n', 'f.csv')).toThrow('f.csv: line 2: expected 2 columns (as on line 1), found 3');
    expect(() => parseCsv('1,,2\n', 'f.csv')).toThrow('f.csv: line 1, column 2: empty field');
    expect(() => parseCsv('a,b\n# nothing\n', 'f.csv')).toThrow('f.csv: no data rows (only a header)');
    expect(() => parseCsv('', 'f.csv')).toThrow('f.csv: no data rows');
    expect(parseCsv(',a,b\n0,1,2\n').header).toEqual(['', 'a', 'b']); // pandas-style index column
    expect(() => parseCsv('1,2\n3,0x10\n', 'f.csv')).toThrow("line 2, column 2: '0x10' is not a number");
  });
  test('formatCsv round trip', () => {
    const data = [0.1, -2, 3e-8, 1e21, NaN, Infinity];
    const t = parseCsv(formatCsv(data, [3, 2], ['x', 'y']));
    expect(t.header).toEqual(['x', 'y']);
    expect(Array.from(t.data)).toEqual(data);
  });
});

/** Canonical (trial, time, channel) value used to fill test arrays in any layout. */
const value = (k: number, t: number, c: number) => 100 * k + 10 * t + c;

/** Build an array of the given layout whose element at (trial k, time t, channel c) is value(k,t,c). */
function arrayIn(layout: string[], dims: Record<string, number>): { shape: number[]; data: Float64Array } {
  const shape = layout.map((a) => dims[a]);
  const data = new Float64Array(shape.reduce((a, b) => a * b, 1));
  const idx = new Array(layout.length).fill(0);
  for (let i = 0; i < data.length; i++) {
    const at = (a: string) => (layout.includes(a) ? idx[layout.indexOf(a)] : 0);
    data[i] = value(at('trial'), at('time'), at('channel'));
    for (let k = layout.length - 1; k >= 0 && ++idx[k] === shape[k]; k--) idx[k] = 0;
  }
  return { shape, data };
}

function expectCanonical(ds: Dataset, trials: number, time: number, channels: number): void {
  expect([ds.trials, ds.time, ds.channels]).toEqual([trials, time, channels]);
  for (let k = 0; k < trials; k++)
    for (let t = 0; t < time; t++) for (let c = 0; c < channels; c++) expect(ds.data[(k * time + t) * channels + c]).toBe(value(k, t, c));
}

describe('layouts', () => {
  const dims = { trial: 2, time: 5, channel: 3 };
  const perms = [
    ['trial', 'time', 'channel'],
    ['trial', 'channel', 'time'],
    ['time', 'trial', 'channel'],
    ['time', 'channel', 'trial'],
    ['channel', 'trial', 'time'],
    ['channel', 'time', 'trial'],
  ];
  for (const p of perms) {
    test(`3-D ${p.join(',')}`, () => expectCanonical(toCanonical(arrayIn(p, dims), p.join(','), 'x.npy'), 2, 5, 3));
  }
  test('2-D means one trial: time,channel and channel,time', () => {
    expectCanonical(toCanonical(arrayIn(['time', 'channel'], dims), 'time,channel'), 1, 5, 3);
    expectCanonical(toCanonical(arrayIn(['channel', 'time'], dims), ' channel , time '), 1, 5, 3);
  });
  test('default layout by rank, and a 1-D series', () => {
    expectCanonical(toCanonical(arrayIn(['trial', 'time', 'channel'], dims), undefined), 2, 5, 3);
    expectCanonical(toCanonical(arrayIn(['time', 'channel'], dims), undefined), 1, 5, 3);
    expectCanonical(toCanonical(arrayIn(['time'], dims), 'time'), 1, 5, 1);
  });
  test('layout errors name the file and the problem', () => {
    const a = arrayIn(['time', 'channel'], dims);
    expect(() => toCanonical(a, 'trial,time,channel', 'd.npy')).toThrow("d.npy: layout 'trial,time,channel' has 3 axes but the array is 2-D");
    expect(() => toCanonical(a, 'time,neuron', 'd.npy')).toThrow("d.npy: layout 'time,neuron' has unknown axis 'neuron'");
    expect(() => toCanonical(a, 'time,time', 'd.npy')).toThrow("names axis 'time' twice");
    expect(() => toCanonical({ shape: [0, 3], data: [] }, 'time,channel', 'd.npy')).toThrow('d.npy: empty array of shape (0, 3)');
    expect(() => toCanonical({ shape: [], data: [1] }, undefined, 'd.npy')).toThrow(/scalar/);
    expect(() => toCanonical({ shape: [2, 2, 2, 2], data: new Float64Array(16) }, undefined, 'd.npy')).toThrow(/no default layout for a 4-D array/);
  });
});

describe('validation', () => {
  test('first NaN / Inf is reported at its position in the file layout', () => {
    const a = arrayIn(['channel', 'time'], { channel: 3, time: 5 });
    a.data[1 * 5 + 3] = NaN; // channel 1, time 3
    a.data[2 * 5 + 4] = Infinity; // later in canonical order
    expect(() => toCanonical(a, 'channel,time', 'e.npy')).toThrow('e.npy: NaN at channel 1, time 3 (index [1, 3] of shape (3, 5))');
    a.data[1 * 5 + 3] = 0;
    expect(() => toCanonical(a, 'channel,time', 'e.npy')).toThrow('e.npy: Inf at channel 2, time 4');
    a.data[2 * 5 + 4] = 1e39; // finite in float64, not in float32
    expect(() => toCanonical(a, 'channel,time', 'e.npy')).toThrow('e.npy: value 1e+39 (outside the float32 range) at channel 2, time 4');
  });
  test('Poisson counts: negative or non-integer, first offender', () => {
    const counts = toCanonical({ shape: [2, 3, 2], data: [0, 1, 2, 3, 4, 5, 6, 7, 8, 2.5, 10, -1] }, 'trial,time,channel');
    expect(() => validateObservations(counts, 'gauss', 'c.npy')).not.toThrow();
    expect(() => validateObservations(counts, 'poisson', 'c.npy')).toThrow(
      'c.npy: Poisson observations need non-negative integer counts; non-integer count 2.5 at trial 1, time 1, channel 1',
    );
    counts.data[9] = 2;
    expect(() => validateObservations(counts, 'poisson', 'c.npy')).toThrow('negative count -1 at trial 1, time 2, channel 1');
    counts.data[11] = 0;
    expect(() => validateObservations(counts, 'poisson', 'c.npy')).not.toThrow();
  });
  test('inputs must match the data in trials and time', () => {
    const data = toCanonical({ shape: [2, 10, 3], data: new Float64Array(60) }, undefined);
    const ok = toCanonical({ shape: [2, 10, 1], data: new Float64Array(20) }, undefined);
    expect(() => validateInputs(ok, data, 'u.npy', 'y.npy')).not.toThrow();
    const shortIn = toCanonical({ shape: [2, 9, 1], data: new Float64Array(18) }, undefined);
    expect(() => validateInputs(shortIn, data, 'u.npy', 'y.npy')).toThrow('u.npy: inputs have 9 time steps but y.npy has 10');
    const oneTrial = toCanonical({ shape: [10, 1], data: new Float64Array(10) }, 'time,channel');
    expect(() => validateInputs(oneTrial, data, 'u.npy', 'y.npy')).toThrow('u.npy: inputs have 1 trial(s) but y.npy has 2');
  });
});

describe('z-scoring', () => {
  test('per channel over trials and time, ddof 0, invertible', () => {
    // channel c of trial k at time t: (c + 1) * (t + 3k) + 10c; channel 2 constant.
    const trials = 2,
      time = 4,
      channels = 3;
    const raw = new Float64Array(trials * time * channels);
    for (let k = 0; k < trials; k++)
      for (let t = 0; t < time; t++) for (let c = 0; c < channels; c++) raw[(k * time + t) * channels + c] = c === 2 ? 7 : (c + 1) * (t + 3 * k) + 10 * c;
    const ds = toCanonical({ shape: [trials, time, channels], data: raw }, undefined);
    const { data: z, normalisation } = zscore(ds);
    // float64 reference of mean and population std per channel
    for (let c = 0; c < channels; c++) {
      const xs = [];
      for (let i = c; i < raw.length; i += channels) xs.push(raw[i]);
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const s = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
      expect(normalisation.mean[c]).toBeCloseTo(m, 10);
      expect(normalisation.std[c]).toBeCloseTo(c === 2 ? 1 : s, 10);
    }
    const after = channelStats(z);
    for (let c = 0; c < 2; c++) {
      expect(after.mean[c]).toBeCloseTo(0, 6);
      expect(after.std[c]).toBeCloseTo(1, 6);
    }
    expect(Array.from(z.data.filter((_, i) => i % channels === 2))).toEqual(new Array(trials * time).fill(0));
    const back = denormalise(z, normalisation);
    for (let i = 0; i < raw.length; i++) expect(back.data[i]).toBeCloseTo(raw[i], 4);
    expect(() => normalise(ds, { mean: [0, 0], std: [1, 1] })).toThrow('normalisation has 2 means and 2 stds for 3 channels');
    expect(() => normalise(ds, { mean: [0, 0, 0], std: [1, 0, 1] })).toThrow('std of channel 1 is 0');
  });
});

describe('files', () => {
  test('loadArray by extension: .npy, .csv; clear errors otherwise', async () => {
    const npy = join(scratch, 'a.npy');
    await saveNpy(npy, Float32Array.from(ramp(6, 1, 0)), [3, 2]);
    expect(await loadArray(npy)).toMatchObject({ shape: [3, 2], dtype: 'f4' });
    const csv = join(scratch, 'b.csv');
    writeFileSync(csv, 'x;y\n1;2\n3;4\n');
    const b = await loadArray(csv);
    expect([b.shape, b.header, Array.from(b.data)]).toEqual([
      [2, 2],
      ['x', 'y'],
      [1, 2, 3, 4],
    ]);
    await expect(loadArray(join(scratch, 'c.mat'))).rejects.toThrow(/c\.mat: unsupported file type '\.mat' \(expected \.npy, \.csv/);
    await expect(loadArray(join(scratch, 'missing.npy'))).rejects.toThrow(/missing\.npy: file not found/);
    writeFileSync(join(scratch, 'empty.csv'), '');
    await expect(loadArray(join(scratch, 'empty.csv'))).rejects.toThrow(/empty\.csv: empty file/);
    writeFileSync(join(scratch, 'bad.csv'), '1,2\n3,oops\n');
    await expect(loadArray(join(scratch, 'bad.csv'))).rejects.toThrow(/bad\.csv: line 2, column 2: 'oops' is not a number/);
  });
  test('loadDataset: layout, validation with the file name', async () => {
    const p = join(scratch, 'counts.npy');
    await saveNpy(p, Int32Array.from([0, 1, 2, 3, 4, -5]), [3, 2]);
    const ds = await loadDataset(p, { layout: 'channel,time' });
    expect([ds.trials, ds.time, ds.channels, ...ds.data]).toEqual([1, 2, 3, 0, 2, 4, 1, 3, -5]);
    await expect(loadDataset(p, { layout: 'channel,time', obs: 'poisson' })).rejects.toThrow(/counts\.npy: .*negative count -5 at trial 0, time 1, channel 2/);
  });
  test('writeFileAtomic replaces whole files and leaves nothing on failure', async () => {
    const p = join(scratch, 'model.json');
    await writeFileAtomic(p, '{"v":1}');
    expect(readFileSync(p, 'utf8')).toBe('{"v":1}');
    await writeFileAtomic(p, ['{"v":', new TextEncoder().encode('2}')]);
    expect(readFileSync(p, 'utf8')).toBe('{"v":2}');
    async function* failing() {
      yield '{"v":3, "partial": ';
      throw new Error('producer died');
    }
    await expect(writeFileAtomic(p, failing())).rejects.toThrow('producer died');
    expect(readFileSync(p, 'utf8')).toBe('{"v":2}');
    // Rename onto a directory fails: the directory stays, and no temp file is left behind.
    const dirTarget = join(scratch, 'taken');
    mkdirSync(join(dirTarget, 'inner'), { recursive: true });
    await expect(writeFileAtomic(dirTarget, 'x')).rejects.toThrow();
    expect(existsSync(join(dirTarget, 'inner'))).toBe(true);
    expect(readdirSync(scratch).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await expect(writeFileAtomic(join(scratch, 'no-such-dir', 'f.json'), 'x')).rejects.toThrow(/directory .*no-such-dir does not exist/);
  });
  test('an .npy written in pieces (header, then chunks) equals encodeNpy and appears only on commit', async () => {
    const p = join(scratch, 'paths.npy');
    writeFileSync(p, 'old');
    const data = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 0.25 - 3);
    const file = await createAtomicFile(p);
    await file.write(npyHeader(new Float32Array(0), [2, 3, 4]));
    await file.write(npyBody(data.subarray(0, 12)));
    expect(readFileSync(p, 'utf8')).toBe('old');
    await file.write(npyBody(data.subarray(12)));
    await file.commit();
    expect(new Uint8Array(readFileSync(p))).toEqual(encodeNpy(data, [2, 3, 4]));
    await expect(file.write(npyBody(data))).rejects.toThrow(/after the file was committed/);
    const aborted = await createAtomicFile(p);
    await aborted.write('partial');
    await aborted.abort();
    expect(new Uint8Array(readFileSync(p))).toEqual(encodeNpy(data, [2, 3, 4]));
    expect(readdirSync(scratch).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
