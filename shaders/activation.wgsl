// The encoder's activations and their derivatives, shared by the elementwise ops (shaders/elementwise.wgsl) and
// the FFT convolution's fused output write and output-gradient read (shaders/conv_fft.wgsl).

// erfc(z) for z ≥ 0 with relative error below 1.2e-7 everywhere (the Chebyshev fit of Press et al.,
// Numerical Recipes §6.2), so GELU keeps its tiny negative tail instead of rounding 1 + erf to 0.
fn erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
    + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-z * z + poly);
}

// Standard normal CDF Φ(v) = erfc(−v/√2)/2.
fn normal_cdf(v: f32) -> f32 {
  let h = 0.5 * erfc_pos(abs(v) * 0.70710678);
  return select(h, 1.0 - h, v > 0.0);
}

// GELU, erf form: v Φ(v); its derivative Φ(v) + v φ(v).
fn gelu_f(v: f32) -> f32 { return v * normal_cdf(v); }
fn gelu_df(v: f32) -> f32 { return normal_cdf(v) + v * 0.39894228 * exp(-0.5 * v * v); }

// Leaky ReLU of slope `slope` (derivative slope at 0, as torch).
fn leaky_f(v: f32, slope: f32) -> f32 { return select(slope * v, v, v > 0.0); }
fn leaky_df(v: f32, slope: f32) -> f32 { return select(slope, 1.0, v > 0.0); }
