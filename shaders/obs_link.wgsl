// Observation link ψ and its derivative, shared by the particle filters and generation so that a
// generated sample and a filtered likelihood use the same rate. Needs "nonlin" included first.
// OBS_NL: identity, softplus (+1e-6), exp (+1e-10), relu (+1e-10); ids in src/gpu/shared-constants.ts.
#include "shared_constants"
override OBS_NL: u32 = 0u;

fn psi(eta: f32) -> f32 {
  switch OBS_NL {
    case OBS_NL_SOFTPLUS: { return nl_softplus(eta) + 1e-6; }
    case OBS_NL_EXP: { return exp(eta) + 1e-10; }
    case OBS_NL_RELU: { return max(eta, 0.0) + 1e-10; }
    default: { return eta; }
  }
}

fn dpsi(eta: f32) -> f32 {
  switch OBS_NL {
    case OBS_NL_SOFTPLUS: { return nl_sigmoid(eta); }
    case OBS_NL_EXP: { return exp(eta); }
    case OBS_NL_RELU: { return select(0.0, 1.0, eta > 0.0); }
    default: { return 1.0; }
  }
}
