/**
 * Small dense float64 products of row-major n × n Float64Arrays, written out because they run hundreds
 * of times per stability optimisation (sparse-neuron circuit) and per cycle search (fixed points);
 * ml-matrix does the factorisations.
 */

/** C = A B for n × n matrices. */
export function matmul(a: Float64Array, b: Float64Array, n: number, out = new Float64Array(n * n)): Float64Array {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[row + k];
      if (aik === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; j++) out[row + j] += aik * b[bk + j];
    }
  }
  return out;
}

/** C = A Bᵀ for n × n matrices. */
export function matmulNT(a: Float64Array, b: Float64Array, n: number, out = new Float64Array(n * n)): Float64Array {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k] * b[j * n + k];
      out[i * n + j] = s;
    }
  }
  return out;
}

/** C = Aᵀ B for n × n matrices. */
export function matmulTN(a: Float64Array, b: Float64Array, n: number, out = new Float64Array(n * n)): Float64Array {
  out.fill(0);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      const aki = a[k * n + i];
      if (aki === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aki * b[k * n + j];
    }
  }
  return out;
}

export function transpose(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = a[i * n + j];
  return out;
}
