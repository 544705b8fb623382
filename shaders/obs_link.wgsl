// Observation link ψ and its derivative, shared by the particle filters and generation so that a
// generated sample and a filtered likelihood use the same rate. Needs "nonlin" included first.
// OBS_NL: 0 identity, 1 softplus (+1e-6), 2 exp (+1e-10), 3 relu (+1e-10).
override OBS_NL: u32 = 0u;

fn psi(eta: f32) -> f32 {
  switch OBS_NL {
    case 1u: { return nl_softplus(eta) + 1e-6; }
    case 2u: { return exp(eta) + 1e-10; }
    case 3u: { return max(eta, 0.0) + 1e-10; }
    default: { return eta; }
  }
}

fn dpsi(eta: f32) -> f32 {
  switch OBS_NL {
    case 1u: { return nl_sigmoid(eta); }
    case 2u: { return exp(eta); }
    case 3u: { return select(0.0, 1.0, eta > 0.0); }
    default: { return 1.0; }
  }
}
