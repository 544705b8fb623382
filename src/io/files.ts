/**
 * Node-only file access: load arrays by extension, save .npy, and atomic writes (temp file in the
 * same directory, fsync, rename) so that a crash or an error never leaves a partial model or
 * checkpoint at the destination.
 */
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { parseCsv } from './csv.js';
import { toCanonical, validateObservations, type Axis, type Dataset, type Observation } from './dataset.js';
import { encodeNpy, parseNpy } from './npy.js';
import type { NwbSession } from './nwb.js';

export interface LoadedArray {
  shape: number[];
  data: ArrayLike<number>;
  /** 'f4', 'i8', ... for .npy; 'f8' for text tables. */
  dtype: string;
  /** Column names of a CSV file with a header row. */
  header?: string[];
}

const TEXT_EXTENSIONS = ['.csv', '.tsv', '.txt'];

/** Load a numeric array from .npy or a text table (.csv/.tsv/.txt), chosen by extension. */
export async function loadArray(path: string): Promise<LoadedArray> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.npy' && !TEXT_EXTENSIONS.includes(ext)) {
    throw new Error(`${path}: unsupported file type '${ext || '(no extension)'}' (expected .npy, .csv, .tsv or .txt)`);
  }
  const bytes = await readBytes(path);
  if (ext === '.npy') {
    const a = parseNpy(bytes, path);
    return { shape: a.shape, data: a.data, dtype: a.dtype };
  }
  const t = parseCsv(bytes.toString('utf8'), path);
  return { shape: t.shape, data: t.data, dtype: 'f8', header: t.header };
}

async function readBytes(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${path}: file not found`);
    if (code === 'EISDIR') throw new Error(`${path}: is a directory, not a file`);
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  if (bytes.length === 0) throw new Error(`${path}: empty file`);
  return bytes;
}

/** Read and parse an NWB file (units, trials, behaviour; see nwb.ts). */
export async function loadNwb(path: string): Promise<NwbSession> {
  // loaded on demand: the HDF5 WebAssembly module is large and most commands never need it
  const { parseNwb } = await import('./nwb.js');
  return parseNwb(await readBytes(path), path);
}

export interface LoadDatasetOptions {
  /** e.g. 'time,channel'; default from the rank (see defaultLayout). */
  layout?: string | readonly Axis[];
  obs?: Observation;
}

/** Load a file, bring it into (trial, time, channel) float32 and validate it for the observation model. */
export async function loadDataset(path: string, options: LoadDatasetOptions = {}): Promise<Dataset> {
  const arr = await loadArray(path);
  const ds = toCanonical(arr, options.layout, path);
  if (options.obs) validateObservations(ds, options.obs, path);
  return ds;
}

/** Save a C-order float32/float64/int32 array as .npy, atomically. */
export async function saveNpy(path: string, data: Float32Array | Float64Array | Int32Array, shape: readonly number[]): Promise<void> {
  await writeFileAtomic(path, encodeNpy(data, shape));
}

export type AtomicData = string | Uint8Array | Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>;

/**
 * Write `data` to `path` atomically: it goes to a temp file in the same directory, is fsynced and
 * then renamed over `path`. On any failure (including a chunk source that throws) the temp file is
 * removed and an existing file at `path` is left as it was.
 */
export async function writeFileAtomic(path: string, data: AtomicData): Promise<void> {
  const file = await createAtomicFile(path);
  try {
    const chunks = typeof data === 'string' || data instanceof Uint8Array ? [data] : data;
    for await (const chunk of chunks) await file.write(chunk);
  } catch (e) {
    await file.abort();
    throw e;
  }
  await file.commit();
}

export interface AtomicFile {
  write(chunk: Uint8Array | string): Promise<void>;
  /** fsync, rename over the destination (after this the file is there whole). */
  commit(): Promise<void>;
  /** Remove the temp file; the destination keeps what it had. */
  abort(): Promise<void>;
}

/** A file written piece by piece to a temp file and published whole by commit(), as writeFileAtomic. */
export async function createAtomicFile(path: string): Promise<AtomicFile> {
  const dir = dirname(path);
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new Error(`${path}: directory ${dir} does not exist`);
  }
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  const handle = await open(tmp, 'wx', 0o644);
  let closed = false;
  const abort = async () => {
    if (closed) return;
    closed = true;
    await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {});
  };
  return {
    async write(chunk) {
      if (closed) throw new Error(`${path}: write after the file was committed or aborted`);
      try {
        await handle.write(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
      } catch (e) {
        await abort();
        throw e;
      }
    },
    async commit() {
      if (closed) throw new Error(`${path}: commit after the file was committed or aborted`);
      try {
        await handle.sync();
        await handle.close();
        await rename(tmp, path);
      } catch (e) {
        await abort();
        throw e;
      }
      closed = true;
      await syncDirectory(dir);
    },
    abort,
  };
}

/** fsync the directory so the rename itself survives a crash (not supported everywhere; best effort). */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the data itself is already synced.
  }
}
