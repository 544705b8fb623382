// Padding of the time axis, shared by the direct (conv1d) and FFT (conv_fft) convolutions of src/ops/conv.ts.
// Padding mode (ids of PAD_MODES in src/ops/conv.ts): 0 zeros, 1 reflect, 2 replicate, 3 circular.
override MODE: u32 = 0u;

// Source step of padded position q of a series of n steps with padL steps of padding before it, or −1
// where zero padding reads nothing (reflect needs padL, padR < n and circular padL, padR ≤ n: checked on
// the host).
fn source_step(q: u32, n: u32, padL: u32) -> i32 {
  let s = i32(q) - i32(padL);
  let ni = i32(n);
  if (s >= 0 && s < ni) { return s; }
  switch MODE {
    case 1u: { return select(2 * (ni - 1) - s, -s, s < 0); }
    case 2u: { return clamp(s, 0, ni - 1); }
    case 3u: { return select(s - ni, s + ni, s < 0); }
    default: { return -1; }
  }
}
