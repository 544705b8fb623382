/**
 * The sweep store: a directory every submitter and worker reaches (a shared file system). Data is
 * content-addressed (`data/<sha256><ext>`), sweeps and their results live under `sweeps/<id>/`; every
 * file is written atomically (io/files.ts writeFileAtomic) and no path given by a sweep file can
 * leave the root, neither by `..` nor through a symbolic link.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, realpath, stat } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import { writeFileAtomic } from '../io/files.js';
import { storePathProblem } from './spec.js';

export interface Store {
  /** Absolute, symlink-resolved root. */
  root: string;
}

const DATA_EXTENSIONS = ['.npy', '.csv', '.tsv', '.txt'];

/** Open (and create the layout of) a store directory; the directory itself must exist. */
export async function openStore(dir: string): Promise<Store> {
  let root: string;
  try {
    root = await realpath(resolve(dir));
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new Error(`store ${dir}: not an existing directory`);
  }
  await mkdir(join(root, 'data'), { recursive: true });
  await mkdir(join(root, 'sweeps'), { recursive: true });
  return { root };
}

/** Resolve a store-relative path, refusing anything outside the root (after following links). */
export async function insideStore(store: Store, rel: string): Promise<string> {
  const why = storePathProblem(rel);
  if (why) throw new Error(`path outside the store: ${why}`);
  const abs = resolve(store.root, rel);
  let real: string;
  try {
    real = await realpath(abs);
  } catch {
    throw new Error(`${rel}: not found in the store ${store.root}`);
  }
  const r = relative(store.root, real);
  if (r === '' || r.startsWith('..' + sep) || r === '..' || resolve(store.root, r) !== real)
    throw new Error(`path outside the store: ${rel} resolves to ${real}, outside ${store.root}`);
  return real;
}

/** sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Copy a data file into the store under its hash (a no-op when already there); returns the hash. */
export async function addData(store: Store, file: string): Promise<{ sha256: string; path: string }> {
  const ext = extname(file).toLowerCase();
  if (!DATA_EXTENSIONS.includes(ext)) throw new Error(`${file}: unsupported data file type '${ext || '(none)'}' (expected ${DATA_EXTENSIONS.join(', ')})`);
  let sha256: string;
  try {
    sha256 = await sha256File(file);
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
  const path = join(store.root, 'data', sha256 + ext);
  const existing = await stat(path).catch(() => null);
  if (!existing) await writeFileAtomic(path, createReadStream(file) as AsyncIterable<Uint8Array>);
  return { sha256, path };
}

/** The stored file of a data hash; a clear error when the store does not hold it. */
export async function dataFile(store: Store, sha256: string): Promise<string> {
  const names = await readdir(join(store.root, 'data'));
  const name = names.find((n) => n.startsWith(sha256) && DATA_EXTENSIONS.includes(n.slice(64)));
  if (!name)
    throw new Error(`missing data hash: the store ${store.root} holds no data ${sha256} (add it with \`lowrank-smc sweep add-data FILE --store DIR\`)`);
  return join(store.root, 'data', name);
}

/** Check a stored data file against its hash before fitting it (a corrupted or replaced file fails the job). */
export async function verifyData(path: string, sha256: string): Promise<void> {
  const actual = await sha256File(path);
  if (actual !== sha256) throw new Error(`data ${path}: sha256 is ${actual}, the sweep expects ${sha256} (the stored file was changed or corrupted)`);
}

export const sweepDir = (store: Store, id: string) => join(store.root, 'sweeps', id);
export const jobDir = (store: Store, id: string, index: number) => join(store.root, 'sweeps', id, 'jobs', String(index));
