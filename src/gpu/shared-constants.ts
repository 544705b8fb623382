/**
 * Integers the host code and the WGSL kernels must agree on, stated once. `npm run gen`
 * (scripts/gen-shaders.mjs) writes every export of this module into the generated shader
 * "shared_constants" as `const NAME: u32 = <value>u;`: kernels `#include "shared_constants"`, TypeScript
 * imports the same names from here. Only exported non-negative 32-bit integers belong here (the
 * generator rejects anything else).
 */

// Random-number purposes: the third Philox counter word (src/gpu/rng.ts). Each independent use of a
// seed draws from its own purpose, so that no two uses see the same numbers.
/** Proposal noise of the particle filters (fused and step kernels, float64 reference filter). */
export const PURPOSE_NOISE = 1;
/** Resampling uniforms of the particle filters. */
export const PURPOSE_RESAMPLE = 2;
/** Reference initialisation of a model: uniform weights. */
export const PURPOSE_INIT_UNIFORM = 3;
/** Reference initialisation of a model: normal draws. */
export const PURPOSE_INIT_NORMAL = 4;
/** Training minibatches: (trial, start) of each window. */
export const PURPOSE_WINDOWS = 5;
/** Generation: latent noise. */
export const PURPOSE_GEN_LATENT = 6;
/** Generation: observation sampling (uniforms). */
export const PURPOSE_GEN_OBS = 7;
/** Generation: observation sampling (normals). */
export const PURPOSE_GEN_OBS_NORMAL = 23;
/** Generation: prior draws of the initial states (host). */
export const PURPOSE_GEN_PRIOR = 8;
/** Generation from the posterior: which filtered particle starts each sequence (host). */
export const PURPOSE_GEN_POSTERIOR_PICK = 9;
/** Teacher presets: random connectivity drawn on the host. */
export const PURPOSE_TEACHER = 20;

// Ids the kernels switch on.
/** Elementwise unary ops (the UNARY override of shaders/elementwise.wgsl; names in src/ops/elementwise.ts). */
export const UNARY_AFFINE = 0;
export const UNARY_EXP = 1;
export const UNARY_LOG = 2;
export const UNARY_SOFTPLUS = 3;
export const UNARY_SIGMOID = 4;
export const UNARY_TANH = 5;
export const UNARY_SQUARE = 6;
export const UNARY_GELU = 7;
export const UNARY_LEAKY_RELU = 8;
export const UNARY_CLAMP = 9;
/** Elementwise binary ops (the BINARY override of shaders/elementwise.wgsl). */
export const BINARY_ADD = 0;
export const BINARY_SUB = 1;
export const BINARY_MUL = 2;
export const BINARY_DIV = 3;
/** Unit nonlinearities φ(x; h) (the NONLIN override of shaders/nonlin.wgsl; names in src/ops/nonlin.ts). */
export const NONLIN_RELU = 0;
export const NONLIN_CLIPPED_RELU = 1;
export const NONLIN_TANH = 2;
export const NONLIN_SOFTPLUS = 3;
export const NONLIN_EXP = 4;
export const NONLIN_IDENTITY = 5;
/** Resampling schemes (p.resample of the particle-filter kernels). */
export const RESAMPLE_SYSTEMATIC = 0;
export const RESAMPLE_STRATIFIED = 1;
export const RESAMPLE_MULTINOMIAL = 2;
/** Observation links ψ (the OBS_NL override of shaders/obs_link.wgsl). */
export const OBS_NL_IDENTITY = 0;
export const OBS_NL_SOFTPLUS = 1;
export const OBS_NL_EXP = 2;
export const OBS_NL_RELU = 3;

// Layouts.
/** Step-path flag bits (p.flags of shaders/smc_step.wgsl): store the paths, store the ancestors. */
export const STEP_FLAG_PATHS = 1;
export const STEP_FLAG_ANC = 2;
/** Entry of the fused filter's small-accumulator map for a slot this proposal does not use. */
export const SMALL_SLOT_UNUSED = 0xffffffff;

// Workgroup sizes of kernels whose grid the host computes.
/** The fused filter's gradient reductions (reduce_rows, reduce_small, input_grad). */
export const SMC_REDUCE_WG = 64;
