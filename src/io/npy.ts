/**
 * NumPy .npy reader and writer on plain bytes (no Node APIs), so the browser app uses the same code.
 * Reads format versions 1.0/2.0/3.0, numeric dtypes and bool in either byte order, C or Fortran
 * order (always returned in C order). Writes version 1.0 (2.0 only if the header would not fit).
 */

export type NpyDType = 'f2' | 'f4' | 'f8' | 'i1' | 'i2' | 'i4' | 'i8' | 'u1' | 'u2' | 'u4' | 'u8' | 'b1';

/** Typed array a parsed array comes back as: f2 → Float32Array, i8/u8 → Float64Array, b1 → Uint8Array (0/1). */
export type NpyData = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array;

export interface NpyArray {
  /** Element type without byte order, e.g. 'f4'. */
  dtype: NpyDType;
  /** Dimensions in C (row-major) order; [] for a 0-d array. */
  shape: number[];
  /** Values in C order. */
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ITEM_SIZE: Record<NpyDType, number> = { f2: 2, f4: 4, f8: 8, i1: 1, i2: 2, i4: 4, i8: 8, u1: 1, u2: 2, u4: 4, u8: 8, b1: 1 };

/** Parse a .npy file. `source` names the file in error messages. */
export function parseNpy(input: ArrayBuffer | ArrayBufferView, source = '.npy data'): NpyArray {
  const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('bad magic: not a NumPy .npy file');
  const major = bytes[6];
  const minor = bytes[7];
  if (major < 1 || major > 3) fail(`unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) fail('truncated header');
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = 8 + lenBytes;
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) fail(`truncated header: expected ${headerLen} header bytes found ${bytes.length - headerStart}`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const { descr, fortranOrder, shape } = parseHeader(header, fail);

  const m = /^([<>|=]?)([fiub])(\d+)$/.exec(descr);
  const dtype = (m ? `${m[2]}${m[3]}` : '') as NpyDType;
  if (!m || !(dtype in ITEM_SIZE)) {
    fail(`unsupported dtype '${descr}' (supported: f2, f4, f8, i1, i2, i4, i8, u1, u2, u4, u8, b1)`);
  }
  const bigEndian = m![1] === '>';
  const size = shape.reduce((a, b) => a * b, 1);
  const itemSize = ITEM_SIZE[dtype];
  const expected = size * itemSize;
  const found = bytes.length - dataStart;
  if (found < expected) fail(`truncated data: expected ${expected} bytes found ${found} (shape [${shape.join(', ')}], dtype '${descr}')`);
  if (found > expected) fail(`${found - expected} unexpected bytes after the data (shape [${shape.join(', ')}], dtype '${descr}' needs ${expected})`);

  let data = decode(dtype, view, dataStart, size, !bigEndian, source);
  if (fortranOrder && shape.length > 1) data = fortranToC(data, shape);
  return { dtype, shape, data };
}

/** The header is a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }. */
function parseHeader(header: string, fail: (msg: string) => never): { descr: string; fortranOrder: boolean; shape: number[] } {
  const descrMatch = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(header);
  if (!descrMatch) {
    if (/['"]descr['"]\s*:\s*\[/.test(header)) fail('unsupported dtype: structured arrays (record dtypes) are not supported');
    fail(`header has no 'descr' entry: ${header.trim()}`);
  }
  const orderMatch = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  if (!orderMatch) fail(`header has no 'fortran_order' entry: ${header.trim()}`);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!shapeMatch) fail(`header has no 'shape' entry: ${header.trim()}`);
  const shape: number[] = [];
  for (const part of shapeMatch![1].split(',')) {
    const t = part.trim().replace(/L$/, ''); // Python 2 wrote long ints as 3L
    if (t === '') continue;
    const n = Number(t);
    if (!Number.isSafeInteger(n) || n < 0) fail(`invalid dimension '${part.trim()}' in shape (${shapeMatch![1]})`);
    shape.push(n);
  }
  return { descr: descrMatch![2], fortranOrder: orderMatch![1] === 'True', shape };
}

function decode(dtype: NpyDType, view: DataView, start: number, n: number, little: boolean, source: string): NpyData {
  // Little-endian data on a little-endian host: copy the bytes once (the offset may be unaligned).
  const raw = (Ctor: { new (b: ArrayBuffer): NpyData; BYTES_PER_ELEMENT: number }): NpyData =>
    new Ctor(view.buffer.slice(view.byteOffset + start, view.byteOffset + start + n * Ctor.BYTES_PER_ELEMENT) as ArrayBuffer);
  const fast = little && HOST_LITTLE_ENDIAN;
  switch (dtype) {
    case 'f4':
      return fast ? raw(Float32Array) : fill(new Float32Array(n), (i) => view.getFloat32(start + 4 * i, little));
    case 'f8':
      return fast ? raw(Float64Array) : fill(new Float64Array(n), (i) => view.getFloat64(start + 8 * i, little));
    case 'f2':
      return fill(new Float32Array(n), (i) => halfToFloat(view.getUint16(start + 2 * i, little)));
    case 'i1':
      return raw(Int8Array);
    case 'u1':
      return raw(Uint8Array);
    case 'b1':
      return fill(new Uint8Array(n), (i) => (view.getUint8(start + i) !== 0 ? 1 : 0));
    case 'i2':
      return fast ? raw(Int16Array) : fill(new Int16Array(n), (i) => view.getInt16(start + 2 * i, little));
    case 'u2':
      return fast ? raw(Uint16Array) : fill(new Uint16Array(n), (i) => view.getUint16(start + 2 * i, little));
    case 'i4':
      return fast ? raw(Int32Array) : fill(new Int32Array(n), (i) => view.getInt32(start + 4 * i, little));
    case 'u4':
      return fast ? raw(Uint32Array) : fill(new Uint32Array(n), (i) => view.getUint32(start + 4 * i, little));
    case 'i8':
    case 'u8': {
      // 64-bit integers become float64; refuse values that float64 cannot hold exactly.
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = dtype === 'i8' ? view.getBigInt64(start + 8 * i, little) : view.getBigUint64(start + 8 * i, little);
        const x = Number(v);
        if (!Number.isSafeInteger(x)) throw new Error(`${source}: ${dtype} value ${v} at flat index ${i} cannot be represented exactly as a float64`);
        out[i] = x;
      }
      return out;
    }
  }
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fill<T extends NpyData>(out: T, f: (i: number) => number): T {
  for (let i = 0; i < out.length; i++) out[i] = f(i);
  return out;
}

/** IEEE 754 binary16 bits → number (subnormals, Inf and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Reorder column-major (first index fastest) data into row-major order. */
function fortranToC<T extends NpyData>(src: T, shape: number[]): T {
  const rank = shape.length;
  const out = new (src.constructor as { new (n: number): T })(src.length);
  // Fortran strides: stride[0] = 1, stride[k] = stride[k-1] * shape[k-1].
  const fStride = new Array<number>(rank);
  fStride[0] = 1;
  for (let k = 1; k < rank; k++) fStride[k] = fStride[k - 1] * shape[k - 1];
  const idx = new Array<number>(rank).fill(0);
  let f = 0;
  for (let c = 0; c < src.length; c++) {
    out[c] = src[f];
    // Advance the C-order multi-index (last index fastest), keeping the Fortran offset in step.
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) {
        f += fStride[k];
        break;
      }
      f -= (shape[k] - 1) * fStride[k];
      idx[k] = 0;
    }
  }
  return out;
}

type NpyWritable = Float32Array | Float64Array | Int32Array;

/** Encode a C-order float32, float64 or int32 array as .npy (format 1.0, little-endian). */
export function encodeNpy(data: NpyWritable, shape: readonly number[]): Uint8Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const header = npyHeader(data, shape);
  if (size !== data.length) throw new Error(`encodeNpy: ${data.length} values do not fill shape [${shape.join(', ')}] (${size} values)`);
  const out = new Uint8Array(header.length + data.byteLength);
  out.set(header, 0);
  out.set(npyBody(data), header.length);
  return out;
}

/**
 * The .npy header for an array of `shape` with the element type of `like` (its values are not read),
 * so a large array can be written in pieces: the header, then npyBody of each piece in C order.
 */
export function npyHeader(like: NpyWritable, shape: readonly number[]): Uint8Array {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`encodeNpy: invalid dimension ${d} in shape [${shape.join(', ')}]`);
  }
  const descr = like instanceof Float32Array ? '<f4' : like instanceof Float64Array ? '<f8' : like instanceof Int32Array ? '<i4' : null;
  if (!descr) throw new Error('encodeNpy: data must be a Float32Array, Float64Array or Int32Array');
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad with spaces and a newline so that the data starts on a 64-byte boundary, as NumPy does.
  let version = 1;
  let prefix = 10;
  let headerLen = Math.ceil((prefix + dict.length + 1) / 64) * 64 - prefix;
  if (headerLen > 0xffff) {
    version = 2;
    prefix = 12;
    headerLen = Math.ceil((prefix + dict.length + 1) / 64) * 64 - prefix;
  }
  const out = new Uint8Array(prefix + headerLen);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  return out;
}

/** The little-endian bytes of `data` (a view of it on little-endian hosts). */
export function npyBody(data: NpyWritable): Uint8Array {
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_LITTLE_ENDIAN) return body;
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) dv.setFloat32(4 * i, data[i], true);
    else if (data instanceof Float64Array) dv.setFloat64(8 * i, data[i], true);
    else dv.setInt32(4 * i, data[i], true);
  }
  return out;
}
