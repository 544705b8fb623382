/**
 * Spectral helpers for the evaluation metrics, in float64 on the CPU (the data sizes are small:
 * 10^4 samples × 64 channels): complex FFT of any length (iterative radix-2, Bluestein's chirp-z for
 * other lengths), the real FFT, a naive O(n²) DFT (test oracle), and the scipy.ndimage filters the
 * reference protocol uses (gaussian_filter1d and convolve1d in 'reflect' mode) and a regularised inverse of
 * the latter, plus z-scoring.
 */

export interface Complex {
  re: Float64Array;
  im: Float64Array;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** cos/sin of 2πk/n for k < n/2, cached per power-of-two size (every stage reads it with a stride). */
const twiddleCache = new Map<number, { cos: Float64Array; sin: Float64Array }>();

function twiddles(n: number): { cos: Float64Array; sin: Float64Array } {
  let t = twiddleCache.get(n);
  if (!t) {
    const half = n >> 1;
    t = { cos: new Float64Array(half), sin: new Float64Array(half) };
    // From cos/sin of each index (not by repeated multiplication) to keep errors at ~1 ulp.
    for (let k = 0; k < half; k++) {
      t.cos[k] = Math.cos((2 * Math.PI * k) / n);
      t.sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
    if (twiddleCache.size > 16) twiddleCache.clear();
    twiddleCache.set(n, t);
  }
  return t;
}

/** In-place iterative radix-2 FFT (forward: e^{-2πi jk/n}); n must be a power of two. */
function fftRadix2InPlace(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i];
      re[i] = re[j];
      re[j] = t;
      t = im[i];
      im[i] = im[j];
      im[j] = t;
    }
  }
  if (n < 2) return;
  const tw = twiddles(n);
  const sign = inverse ? 1 : -1;
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    const stride = n / len;
    for (let k = 0; k < half; k++) {
      const wr = tw.cos[k * stride];
      const wi = sign * tw.sin[k * stride];
      for (let s = 0; s < n; s += len) {
        const a = s + k;
        const b = a + half;
        const xr = re[b] * wr - im[b] * wi;
        const xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr;
        im[b] = im[a] - xi;
        re[a] += xr;
        im[a] += xi;
      }
    }
  }
}

interface Chirp {
  m: number;
  /** w_j = e^{iπ j²/n}, j < n */
  wr: Float64Array;
  wi: Float64Array;
  /** FFT of the length-m sequence b with b_j = b_{m−j} = w_j */
  br: Float64Array;
  bi: Float64Array;
}

/** Bluestein's chirp and its transform depend only on n: cached, since every channel has the same length. */
const chirpCache = new Map<number, Chirp>();

function chirp(n: number): Chirp {
  let c = chirpCache.get(n);
  if (c) return c;
  let m = 1;
  while (m < 2 * n - 1) m <<= 1;
  const wr = new Float64Array(n);
  const wi = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    // j² mod 2n keeps the angle small so large j lose no precision.
    const jj = (j * j) % (2 * n);
    const ang = (Math.PI * jj) / n;
    wr[j] = Math.cos(ang);
    wi[j] = Math.sin(ang);
  }
  const br = new Float64Array(m);
  const bi = new Float64Array(m);
  br[0] = wr[0];
  bi[0] = wi[0];
  for (let j = 1; j < n; j++) {
    br[j] = br[m - j] = wr[j];
    bi[j] = bi[m - j] = wi[j];
  }
  fftRadix2InPlace(br, bi);
  c = { m, wr, wi, br, bi };
  if (chirpCache.size > 8) chirpCache.clear();
  chirpCache.set(n, c);
  return c;
}

/**
 * Bluestein: X_k = conj(w_k) Σ_j (x_j conj(w_j)) w_{k-j} with w_j = e^{iπ j²/n}, a convolution done
 * with power-of-two FFTs of size ≥ 2n−1.
 */
function fftBluestein(re: Float64Array, im: Float64Array): Complex {
  const n = re.length;
  const { m, wr, wi, br, bi } = chirp(n);
  const ar = new Float64Array(m);
  const ai = new Float64Array(m);
  for (let j = 0; j < n; j++) {
    // x_j * conj(w_j)
    ar[j] = re[j] * wr[j] + im[j] * wi[j];
    ai[j] = im[j] * wr[j] - re[j] * wi[j];
  }
  fftRadix2InPlace(ar, ai);
  for (let k = 0; k < m; k++) {
    const r = ar[k] * br[k] - ai[k] * bi[k];
    ai[k] = ar[k] * bi[k] + ai[k] * br[k];
    ar[k] = r;
  }
  fftRadix2InPlace(ar, ai, true);
  const outRe = new Float64Array(n);
  const outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const cr = ar[k] / m;
    const ci = ai[k] / m;
    // times conj(w_k)
    outRe[k] = cr * wr[k] + ci * wi[k];
    outIm[k] = ci * wr[k] - cr * wi[k];
  }
  return { re: outRe, im: outIm };
}

/** Unnormalised forward DFT X_k = Σ_j x_j e^{-2πi jk/n} of any length n ≥ 1. Inputs are not modified. */
export function fft(re: ArrayLike<number>, im?: ArrayLike<number>): Complex {
  const n = re.length;
  if (n === 0) throw new Error('fft: empty input');
  if (im && im.length !== n) throw new Error(`fft: real part has length ${n}, imaginary part ${im.length}`);
  const r = Float64Array.from(re);
  const i = im ? Float64Array.from(im) : new Float64Array(n);
  if (isPowerOfTwo(n)) {
    fftRadix2InPlace(r, i);
    return { re: r, im: i };
  }
  return fftBluestein(r, i);
}

export type FftNorm = 'backward' | 'ortho' | 'forward';

/** numpy.fft.rfft: the n/2+1 non-negative-frequency bins of the DFT of a real signal. */
export function rfft(x: ArrayLike<number>, norm: FftNorm = 'backward'): Complex {
  const n = x.length;
  const full = fft(x);
  const bins = Math.floor(n / 2) + 1;
  const scale = norm === 'ortho' ? 1 / Math.sqrt(n) : norm === 'forward' ? 1 / n : 1;
  const re = new Float64Array(bins);
  const im = new Float64Array(bins);
  for (let k = 0; k < bins; k++) {
    re[k] = full.re[k] * scale;
    im[k] = full.im[k] * scale;
  }
  return { re, im };
}

/** O(n²) DFT straight from the definition (test oracle for fft/rfft). */
export function naiveDft(re: ArrayLike<number>, im?: ArrayLike<number>): Complex {
  const n = re.length;
  const outRe = new Float64Array(n);
  const outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    for (let j = 0; j < n; j++) {
      const ang = (-2 * Math.PI * ((j * k) % n)) / n;
      const c = Math.cos(ang);
      const s = Math.sin(ang);
      const xi = im ? im[j] : 0;
      sr += re[j] * c - xi * s;
      si += re[j] * s + xi * c;
    }
    outRe[k] = sr;
    outIm[k] = si;
  }
  return { re: outRe, im: outIm };
}

/**
 * scipy.ndimage 'reflect' boundary (half-sample symmetric: d c b a | a b c d | d c b a), extended
 * periodically with period 2n when the kernel reaches past a whole mirror image.
 */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n;
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

/**
 * scipy.ndimage.correlate1d on a 1-D signal with mode 'reflect' and origin 0: out[i] = Σ_j w[j] x[i + j − ⌊len/2⌋].
 * For odd symmetric weights this equals convolve1d.
 */
export function correlate1dReflect(x: ArrayLike<number>, weights: ArrayLike<number>): Float64Array {
  const n = x.length;
  const half = Math.floor(weights.length / 2);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < weights.length; j++) s += weights[j] * x[reflectIndex(i + j - half, n)];
    out[i] = s;
  }
  return out;
}

/** scipy.ndimage.convolve1d (mode 'reflect', origin 0): correlation with the reversed weights, shifted for even lengths. */
export function convolve1dReflect(x: ArrayLike<number>, weights: ArrayLike<number>): Float64Array {
  const w = Array.from(weights).reverse();
  if (w.length % 2 === 1) return correlate1dReflect(x, w);
  // Even length: scipy moves the origin by one to the left after reversal.
  const n = x.length;
  const half = w.length / 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < w.length; j++) s += w[j] * x[reflectIndex(i + j - half + 1, n)];
    out[i] = s;
  }
  return out;
}

/** The normalised Gaussian kernel of scipy's gaussian_filter1d (order 0): radius = ⌊truncate·σ + 0.5⌋. */
export function gaussianKernel1d(sigma: number, truncate = 4): Float64Array {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new Error(`gaussian kernel: sigma must be a positive number, got ${sigma}`);
  const radius = Math.floor(truncate * sigma + 0.5);
  const w = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let k = -radius; k <= radius; k++) {
    const v = Math.exp((-0.5 * k * k) / (sigma * sigma));
    w[k + radius] = v;
    sum += v;
  }
  for (let k = 0; k < w.length; k++) w[k] /= sum;
  return w;
}

/** scipy.ndimage.gaussian_filter1d(x, sigma) with its defaults: mode 'reflect', truncate 4. */
export function gaussianFilter1d(x: ArrayLike<number>, sigma: number, truncate = 4): Float64Array {
  return correlate1dReflect(x, gaussianKernel1d(sigma, truncate));
}

/** scipy.signal.windows.hann(M) (symmetric, unnormalised: peak 1, zero endpoints). */
export function hannWindow(length: number): Float64Array {
  if (!Number.isInteger(length) || length < 1) throw new Error(`hann window: length must be a positive integer, got ${length}`);
  const w = new Float64Array(length);
  if (length === 1) {
    w[0] = 1;
    return w;
  }
  for (let k = 0; k < length; k++) w[k] = 0.5 - 0.5 * Math.cos((2 * Math.PI * k) / (length - 1));
  return w;
}

/**
 * Regularised (Wiener) inverse of convolve1dReflect for a symmetric odd-length kernel: given
 * y = convolve1dReflect(x, w), an estimate of x. Reflect-mode filtering of x equals circular filtering
 * of its half-sample-symmetric extension [x, reversed x] (for kernels no longer than the signal), so the
 * extension is divided by the kernel's transfer function H in the frequency domain, with the gain
 * H / (H² + (reg·H(0))²) so that frequencies the kernel all but removes (|H| ≲ reg·H(0)) are not blown
 * up. reg → 0 gives the exact inverse wherever H has no zero.
 */
export function deconvolve1dReflect(y: ArrayLike<number>, weights: ArrayLike<number>, reg: number): Float64Array {
  const n = y.length;
  const m = weights.length;
  if (m % 2 !== 1) throw new Error(`deconvolve: the kernel length must be odd, got ${m}`);
  for (let j = 0; j < m; j++) {
    if (Math.abs(weights[j] - weights[m - 1 - j]) > 1e-12 * Math.abs(weights[j])) throw new Error('deconvolve: the kernel must be symmetric');
  }
  if (!(reg >= 0) || !Number.isFinite(reg)) throw new Error(`deconvolve: reg must be a non-negative number, got ${reg}`);
  const half = (m - 1) / 2;
  if (n <= half) throw new Error(`deconvolve: the signal (${n} samples) must be longer than the kernel's half-width ${half}`);
  const len = 2 * n;
  const ext = new Float64Array(len);
  for (let i = 0; i < n; i++) ext[i] = ext[len - 1 - i] = y[i];
  // kernel laid out circularly around index 0: its DFT is real because the kernel is symmetric
  const k = new Float64Array(len);
  let dc = 0;
  for (let j = 0; j < m; j++) {
    k[(j - half + len) % len] += weights[j];
    dc += weights[j];
  }
  if (dc === 0) throw new Error('deconvolve: the kernel sums to zero');
  const H = fft(k).re;
  const Y = fft(ext);
  const eps = (reg * dc) ** 2;
  for (let f = 0; f < len; f++) {
    const den = H[f] * H[f] + eps;
    const g = den > 0 ? H[f] / den : 0;
    Y.re[f] *= g;
    // inverse transform as conj(fft(conj(·)))/len: conjugate here, take the real part below
    Y.im[f] *= -g;
  }
  const back = fft(Y.re, Y.im);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = back.re[i] / len;
  return out;
}

/** scipy.stats.zscore (ddof 0). A constant signal gives NaN, as in scipy. */
export function zscore(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i] - mean) ** 2;
  const sd = Math.sqrt(v / n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (x[i] - mean) / sd;
  return out;
}

/** |X_k|² of the ortho-normalised rfft. */
export function powerSpectrum(x: ArrayLike<number>): Float64Array {
  const { re, im } = rfft(x, 'ortho');
  const p = new Float64Array(re.length);
  for (let k = 0; k < p.length; k++) p[k] = re[k] * re[k] + im[k] * im[k];
  return p;
}
