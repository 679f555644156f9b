/**
 * MomentumSMoE (Teo & Nguyen, NeurIPS 2024, "MomentumSMoE: Integrating Momentum into Sparse Mixture of
 * Experts"; reference code github.com/rachtsy/MomentumSMoE, models.py CustomizedMoEPositionwiseFFMoM):
 * heavy-ball momentum across consecutive MoE layers, read as gradient descent on the layers' objectives —
 *   p_l = μ · p_{l−1} + γ · f_l(x_l),   x_{l+1} = x_l − p_l,
 * with f_l the layer's MoE output (before the residual), p_0 = 0 and the buffer carried from one MoE layer
 * to the next through the per-forward state (other layers between them, as attention sits between the
 * reference's MoE layers). The minus sign is the reference's (`output = inp - moment`); the experts learn
 * the sign. Defaults μ = 0.7, γ = 1 (the reference's scripts/smoe-mom-*.sh: --mu 0.7 --gamma2 1.0).
 * Deviation, stated: the reference's post-norm variant applies LayerNorm to x_l − p_l; there is no norm here.
 * The buffer restarts at zero where the width or token count changes (it cannot carry across).
 */
import * as tf from '@tensorflow/tfjs';

/** The key of the momentum buffer in the per-forward state. */
export const MOMENTUM_STATE = 'momentum';

export interface MomentumCoefficients {
  mu: number;
  gamma: number;
}

/** p = μ · p_prev + γ · f, p_prev the state's buffer (zeros where there is none of f's shape); stores p. */
export function momentumStep(state: Map<string, unknown>, f: tf.Tensor2D, m: MomentumCoefficients): tf.Tensor2D {
  const prev = state.get(MOMENTUM_STATE) as tf.Tensor2D | undefined;
  const carried = prev && prev.shape[0] === f.shape[0] && prev.shape[1] === f.shape[1];
  const p = (carried ? tf.add(tf.mul(m.mu, prev), tf.mul(m.gamma, f)) : tf.mul(m.gamma, f)) as tf.Tensor2D;
  state.set(MOMENTUM_STATE, p);
  return p;
}
