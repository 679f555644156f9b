/**
 * The conv block (core/nn/blocks/conv.ts) in the compiled step, training semantics: a TF-'same' conv of the
 * NHWC batch with the supernet's [kMax, kMax, inMax, cMax] kernel read in place (the centre k×k, the first
 * cin inputs and c outputs; with `kernelTransform`, OFA's transformed kernel, ./kernelTransformStep.ts), then
 * BatchNorm with batch statistics (running statistics updated on the used channels) or the conv bias, then
 * the activation.
 *
 * The products are tiled matmuls (./matmul.ts) whose loads do the im2col (x's patch matrix is never built):
 *   forward   Y(row, o)  = Σ_tap X[patch(row, tap)]·W[tap, o]           M = B·Ho·Wo, K = k²·cin
 *   dW        dW(tap, o) = Σ_row X[patch(row, tap)]·dY(row, o)           K = B·Ho·Wo, split-K; the store is the update
 *   dx        stride 1: dX(pos, i) = Σ_(tap, o) dY[gather(pos, tap), o]·W[tap, i, o], the gather being the col2im
 *             stride 2: dCols(row, (tap, i)) = Σ_o dY(row, o)·W[tap, i, o], then a col2im pass (no zero terms)
 * (tfjs' Conv2DBackpropFilter was the main GPU cost of the batch-2048 step.)
 *
 * BatchNorm over the M = B·Ho·Wo rows, per channel, in kernels that read the activations coalesced:
 *   forward   partial sums of (y − y₀, (y − y₀)²) per row chunk; one workgroup combines them into μ, 1/√(σ² + ε)
 *             (the shift y₀ = the first row keeps Σ(y − y₀)² − M·mean² from cancelling), updates the running
 *             statistics and keeps μ, rstd, γ, β for the backward; then h = act((y − μ)·rstd·γ + β)
 *   backward  partial sums of (dz, dz·x̂) with dz = dh·act′ (x̂, z recomputed from y); one workgroup sums them
 *             (dγ = Σ dz·x̂, its update); dY = γ·rstd·(dz − Σdz/M − x̂·Σdz·x̂/M) (dβ = Σ dz, its update)
 * This is the full BatchNorm gradient, as autodiff of the block's primitive-op form gives it: the batch
 * statistics are differentiated through. γ's and β's updates sit in different kernels because Adam needs
 * four buffers per variable and a kernel has eight.
 *
 * Dispatches per block: BatchNorm 4 forward (conv, partial, combine, normalise) and 5–7 backward (partial,
 * combine, dY, dx as one or, at stride 2, two, dW as one or two; no dx for the first layer); with a bias 1
 * forward and 4–6 backward (dx, dW, and Σ dz in two).
 */
import type * as tf from '@tensorflow/tfjs';
import type { Activation } from '../../../space/SearchSpace.js';
import { samePadding } from '../../conv.js';
import type { CompiledLayer, StepCompiler } from './compiler.js';
import { ACTIVATION_WGSL, COMPILED_ACTIVATIONS, needsPreActivation } from './denseStep.js';
import { recordKernelChain, type KernelChain, type KernelTransform } from './kernelTransformStep.js';
import { recordMatmul, splitKFor } from './matmul.js';
import type { Binding, Param } from './program.js';

export interface ConvStepSpec {
  name: string;
  /** [kMax, kMax, inMax, cMax] (HWIO). */
  kernel: tf.Variable;
  /** [cMax], without BatchNorm. */
  bias: tf.Variable | null;
  bn: { gamma: tf.Variable; beta: tf.Variable; mean: tf.Variable; variance: tf.Variable; epsilon: number; momentum: number } | null;
  /** Input spatial size and channels used (the first cin of the kernel's inMax). */
  h: number;
  w: number;
  cin: number;
  /** Output channels used (the first c of cMax) and the kernel size (the centre k×k of kMax). */
  c: number;
  k: number;
  stride: 1 | 2;
  act: Activation;
  /** OFA's kernel transformation steps from kMax down to k (./kernelTransformStep.ts); none: the plain centre crop. */
  transforms?: readonly KernelTransform[];
}

const WG = 256;
/** Elementwise kernels: at most this many workgroups, each thread striding over the rest. */
const MAX_GROUPS = 8192;

/**
 * The conv's geometry as kernel params (names clear of the matmul's M, N, K, kChunk); the kernel read is
 * [kx, kx, ldi, ldo] at offset ko (the supernet's, or a transformed [k, k, cin, c] one at 0).
 */
function geometryParams(s: ConvStepSpec, batch: number, kx: number, ko: number, ldi: number, ldo: number) {
  const py = samePadding(s.h, s.k, s.stride);
  const px = samePadding(s.w, s.k, s.stride);
  const params: Param[] = [
    ['nb', 'u32', batch],
    ['ih', 'u32', s.h],
    ['iw', 'u32', s.w],
    ['ci', 'u32', s.cin],
    ['oh', 'u32', py.out],
    ['ow', 'u32', px.out],
    ['co', 'u32', s.c],
    ['ks', 'u32', s.k],
    ['st', 'u32', s.stride],
    ['pt', 'u32', py.before],
    ['pl', 'u32', px.before],
    ['kx', 'u32', kx],
    ['ko', 'u32', ko],
    ['ldi', 'u32', ldi],
    ['ldo', 'u32', ldo],
  ];
  return { params, ho: py.out, wo: px.out };
}

/**
 * Index arithmetic every conv kernel shares: a tap (ty·k + tx)·n + ch of a k×k window over n channels, a
 * position (b, y, x) of an h×w map, and the element (ty, tx, i, o) of the full [kMax, kMax, inMax, cMax]
 * kernel at the centre crop's offset.
 */
const GEOMETRY = /* wgsl */ `
fn splitTap(tap: u32, n: u32) -> vec3<u32> { let t = tap / n; return vec3<u32>(t / u.ks, t % u.ks, tap % n); }
fn splitPos(p: u32, h: u32, w: u32) -> vec3<u32> { let q = p / w; return vec3<u32>(q / h, q % h, p % w); }
fn kernelAt(ty: u32, tx: u32, i: u32, o: u32) -> u32 { return (((ty + u.ko) * u.kx + tx + u.ko) * u.ldi + i) * u.ldo + o; }
fn wIndex(tap: u32, o: u32) -> u32 { let t = splitTap(tap, u.ci); return kernelAt(t.x, t.y, t.z, o); }
fn wtIndex(tap: u32, i: u32) -> u32 { let t = splitTap(tap, u.co); return kernelAt(t.x, t.y, i, t.z); }`;

/** x at tap (ty, tx, i) of output row (b, oy, ox); 0 in the padding. */
const X_PATCH = /* wgsl */ `
fn xPatch(row: u32, tap: u32) -> f32 {
  let t = splitTap(tap, u.ci);
  let o = splitPos(row, u.oh, u.ow);
  let iy = i32(o.y * u.st + t.x) - i32(u.pt);
  let ix = i32(o.z * u.st + t.y) - i32(u.pl);
  if (iy < 0 || ix < 0 || iy >= i32(u.ih) || ix >= i32(u.iw)) { return 0.0; }
  return X[((o.x * u.ih + u32(iy)) * u.iw + u32(ix)) * u.ci + t.z];
}`;

/**
 * For dx: the gradient at the output that input position (b, iy, ix) reaches through tap (ty, tx, o), or 0
 * where no output sees it there (padding, or a position between a stride's samples). `gz(i)` reads dY.
 */
const DY_GATHER = /* wgsl */ `
fn dyGather(pos: u32, tap: u32) -> f32 {
  let t = splitTap(tap, u.co);
  let p = splitPos(pos, u.ih, u.iw);
  let ny = i32(p.y + u.pt) - i32(t.x);
  let nx = i32(p.z + u.pl) - i32(t.y);
  if (ny < 0 || nx < 0) { return 0.0; }
  let oy = u32(ny) / u.st;
  let ox = u32(nx) / u.st;
  if (oy * u.st != u32(ny) || ox * u.st != u32(nx) || oy >= u.oh || ox >= u.ow) { return 0.0; }
  return gz(((p.x * u.oh + oy) * u.ow + ox) * u.co + t.z);
}`;

/** act′ as a function of the pre-activation z (the dense kernels' dact_* take the output, GELU's z). */
function dactOfZ(act: Activation): string {
  return `fn dact_z(z: f32) -> f32 { return ${needsPreActivation(act) ? `dact_${act}(z)` : `dact_${act}(act_${act}(z))`}; }`;
}

/**
 * Per-channel sums of two quantities over the rows of an [M, C] activation, in two dispatches' worth of
 * WGSL: `partialKernel` (one workgroup per chunk of rows; threads laid out (row lane, channel) so a warp
 * reads consecutive words) and `combineKernel` (one workgroup summing the chunks' partials, then `finish`).
 */
function chunking(M: number, C: number) {
  const cw = Math.min(C, WG);
  const lanes = Math.floor(WG / cw);
  // ≤ 256 chunks (the combine reads them all), each ≥ 4 rows per lane.
  const rows = Math.max(lanes * 4, Math.ceil(M / 256));
  return { cw, lanes, rows, chunks: Math.ceil(M / rows) };
}

/**
 * `quantities` is WGSL in a scope with i (element index r·C + ch), ch and the channel prelude's lets,
 * declaring `let q0`, `let q1`.
 */
function partialKernel(M: number, C: number, prelude: string, quantities: string, helpers: string): { code: string; chunks: number; params: Param[] } {
  const { cw, lanes, rows, chunks } = chunking(M, C);
  const code = `${helpers}
const CW = ${cw}u;
const LANES = ${lanes}u;
var<workgroup> sh0: array<f32, ${WG}>;
var<workgroup> sh1: array<f32, ${WG}>;
fn quantities(i: u32, ch: u32) -> vec2<f32> {
  ${prelude}
  ${quantities}
  return vec2<f32>(q0, q1);
}
@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.x;
  let lane = t / CW;
  let r0 = wg.x * u.rows;
  let r1 = min(u.M, r0 + u.rows);
  for (var cb = 0u; cb < u.C; cb += CW) {
    let ch = cb + t % CW;
    var a = vec2<f32>(0.0, 0.0);
    if (lane < LANES && ch < u.C) {
      var r = r0 + lane;
      // Four rows in flight per step: the loads are independent, so the thread does not wait on each.
      for (; r + 3u * LANES < r1; r += 4u * LANES) {
        let v0 = quantities(r * u.C + ch, ch);
        let v1 = quantities((r + LANES) * u.C + ch, ch);
        let v2 = quantities((r + 2u * LANES) * u.C + ch, ch);
        let v3 = quantities((r + 3u * LANES) * u.C + ch, ch);
        a += (v0 + v1) + (v2 + v3);
      }
      for (; r < r1; r += LANES) { a += quantities(r * u.C + ch, ch); }
    }
    sh0[t] = a.x;
    sh1[t] = a.y;
    workgroupBarrier();
    if (t < CW && cb + t < u.C) {
      var s = vec2<f32>(0.0, 0.0);
      for (var l = 0u; l < LANES; l++) { s += vec2<f32>(sh0[l * CW + t], sh1[l * CW + t]); }
      Part[(wg.x * 2u) * u.C + cb + t] = s.x;
      Part[(wg.x * 2u + 1u) * u.C + cb + t] = s.y;
    }
    workgroupBarrier();
  }
}`;
  return { code, chunks, params: [['M', 'u32', M], ['C', 'u32', C], ['rows', 'u32', rows]] };
}

/** Sum the chunks' partials per channel, then `finish` (s: vec2 sums, ch in scope) once per channel. */
function combineKernel(chunks: number, C: number, finish: string, helpers: string): { code: string; params: Param[] } {
  const cw = Math.min(C, WG);
  const lanes = Math.floor(WG / cw);
  const code = `${helpers}
const CW = ${cw}u;
const LANES = ${lanes}u;
var<workgroup> sh0: array<f32, ${WG}>;
var<workgroup> sh1: array<f32, ${WG}>;
@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.x;
  let lane = t / CW;
  for (var cb = 0u; cb < u.C; cb += CW) {
    let ch = cb + t % CW;
    var a = vec2<f32>(0.0, 0.0);
    if (lane < LANES && ch < u.C) {
      for (var g = lane; g < u.chunks; g += LANES) { a += vec2<f32>(Part[(g * 2u) * u.C + ch], Part[(g * 2u + 1u) * u.C + ch]); }
    }
    sh0[t] = a.x;
    sh1[t] = a.y;
    workgroupBarrier();
    if (t < CW && cb + t < u.C) {
      let ch = cb + t;
      var s = vec2<f32>(0.0, 0.0);
      for (var l = 0u; l < LANES; l++) { s += vec2<f32>(sh0[l * CW + t], sh1[l * CW + t]); }
      ${finish}
    }
    workgroupBarrier();
  }
}`;
  return { code, params: [['C', 'u32', C], ['chunks', 'u32', chunks]] };
}

/** An elementwise kernel over n elements (`body` with i in scope), grid-strided past MAX_GROUPS workgroups. */
function elementwise(n: number, body: string, helpers: string): { code: string; workgroups: number[]; params: Param[] } {
  const groups = Math.min(MAX_GROUPS, Math.ceil(n / WG));
  const code = `${helpers}
@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  for (var i = gid.x; i < u.n; i += u.stride) {
    ${body}
  }
}`;
  return { code, workgroups: [groups], params: [['n', 'u32', n], ['stride', 'u32', groups * WG]] };
}

/** Why a conv of `s` at `batch` rows is not compiled (a product's rows past the grid's 65535 tiles of 64), or null. */
export function convNotCompiled(s: ConvStepSpec, batch: number): string | null {
  if (!COMPILED_ACTIVATIONS.has(s.act)) return `${s.name}: activation ${s.act} is not compiled`;
  const rows = batch * s.h * s.w;
  return rows > 65535 * 64 ? `${s.name}: ${rows} input positions exceed the compiled conv's 65535 row tiles` : null;
}

/** Record the forward of a conv block on the NHWC batch `x`; returns its output [B, Ho, Wo, c] and its layer. */
export function compileConv(c: StepCompiler, s: ConvStepSpec, x: GPUBuffer): { y: GPUBuffer; ho: number; wo: number; layer: CompiledLayer } {
  if (!COMPILED_ACTIVATIONS.has(s.act)) throw new Error(`compiled conv: activation ${s.act} is not compiled`);
  const [kMax, , inMax, cMax] = s.kernel.shape as [number, number, number, number];
  if (s.k > kMax || (kMax - s.k) % 2 !== 0 || s.cin > inMax || s.c > cMax) throw new Error(`${s.name}: kernel ${s.k}, ${s.cin} → ${s.c} channels is no slice of [${s.kernel.shape}]`);
  const p = c.program;
  const B = c.batch;
  const chain = s.transforms && s.transforms.length > 0 ? recordKernelChain(c, s.name, s.kernel, s.transforms, s.cin, s.c) : null;
  const { params: geo, ho, wo } = chain ? geometryParams(s, B, s.k, 0, s.cin, s.c) : geometryParams(s, B, kMax, (kMax - s.k) / 2, inMax, cMax);
  const M = B * ho * wo;
  const C = s.c;
  const act = s.act;
  const W = chain ? chain.kernel : c.read(s.kernel);
  const h = c.buffer(M * C, `${s.name}.h`);
  const actHelpers = ACTIVATION_WGSL + dactOfZ(act);

  if (!s.bn) {
    // Conv + bias + activation in the product's store, as the dense block (GELU keeps its pre-activation).
    const bias = s.bias!;
    const pre = needsPreActivation(act);
    const z = pre ? c.buffer(M * C, `${s.name}.z`) : h;
    const Bv = c.read(bias);
    recordForward(c, s, geo, M, x, W, {
      store: `let z = acc + Bv[n]; H[m * u.co + n] = act_${act}(z);${pre ? ' Z[m * u.co + n] = z;' : ''}`,
      storeHelpers: ACTIVATION_WGSL,
      storeBindings: [{ name: 'Bv', buffer: Bv }, { name: 'H', buffer: h, access: 'read_write' }, ...(pre ? [{ name: 'Z', buffer: z, access: 'read_write' as const }] : [])],
    });
    const layer: CompiledLayer = {
      backward(dy, needDx) {
        // dz = dh·act′, read on the fly wherever the products load it (R: the output, or GELU's z).
        const gz = `${ACTIVATION_WGSL}\nfn gz(i: u32) -> f32 { return ${act === 'linear' ? 'DY[i]' : `DY[i] * dact_${act}(R[i])`}; }`;
        const gzBindings: Binding[] = [{ name: 'DY', buffer: dy }, ...(act === 'linear' ? [] : [{ name: 'R', buffer: z }])];
        const dx = needDx ? recordDx(c, s, geo, B, W, gz, gzBindings) : null;
        recordDw(c, s, geo, M, x, gz, gzBindings, chain);
        // Σ_rows dz per channel, then the bias update.
        const part = partialKernel(M, C, '', 'let q0 = gz(i); let q1 = 0.0;', gz);
        const partials = c.buffer(part.chunks * 2 * C, `${s.name}.db.partial`);
        p.dispatch(`${s.name}.db.partial`, { params: part.params, bindings: [...gzBindings, { name: 'Part', buffer: partials, access: 'read_write' }], code: part.code, workgroups: [part.chunks] });
        const bUp = c.update(bias, 'b');
        const comb = combineKernel(part.chunks, C, `${bUp.fn}(ch, s.x);`, bUp.helpers);
        p.dispatch(`${s.name}.db`, { params: comb.params, bindings: [{ name: 'Part', buffer: partials }, ...bUp.bindings], code: comb.code, workgroups: [1] });
        return dx;
      },
    };
    return { y: h, ho, wo, layer };
  }

  // BatchNorm. y: the conv's output; P: per channel [μ, rstd, γ, β, Σdz, Σdz·x̂] of this step.
  const bn = s.bn;
  const y = c.buffer(M * C, `${s.name}.y`);
  const P = c.buffer(6 * C, `${s.name}.bn.state`);
  recordForward(c, s, geo, M, x, W, { store: 'Y[m * u.co + n] = acc;', storeBindings: [{ name: 'Y', buffer: y, access: 'read_write' }] });
  const stats = partialKernel(M, C, 'let d = Y[i] - Y[ch];', 'let q0 = d; let q1 = d * d;', '');
  const partials = c.buffer(stats.chunks * 2 * C, `${s.name}.bn.partial`);
  p.dispatch(`${s.name}.bn.stats`, { params: stats.params, bindings: [{ name: 'Y', buffer: y }, { name: 'Part', buffer: partials, access: 'read_write' }], code: stats.code, workgroups: [stats.chunks] });
  const comb = combineKernel(
    stats.chunks,
    C,
    `let d = s.x * u.invM;
      let mean = Y[ch] + d;
      let variance = max(s.y * u.invM - d * d, 0.0);
      P[ch] = mean;
      P[u.C + ch] = 1.0 / sqrt(variance + u.eps);
      P[2u * u.C + ch] = Gm[ch];
      P[3u * u.C + ch] = Bt[ch];
      RM[ch] = u.mom * RM[ch] + u.mom1 * mean;
      RV[ch] = u.mom * RV[ch] + u.mom1 * variance;`,
    '',
  );
  p.dispatch(`${s.name}.bn.combine`, {
    params: [...comb.params, ['invM', 'f32', 1 / M], ['eps', 'f32', bn.epsilon], ['mom', 'f32', bn.momentum], ['mom1', 'f32', 1 - bn.momentum]],
    bindings: [
      { name: 'Part', buffer: partials },
      { name: 'Y', buffer: y },
      { name: 'Gm', buffer: c.read(bn.gamma) },
      { name: 'Bt', buffer: c.read(bn.beta) },
      { name: 'P', buffer: P, access: 'read_write' },
      { name: 'RM', buffer: c.read(bn.mean), access: 'read_write' },
      { name: 'RV', buffer: c.read(bn.variance), access: 'read_write' },
    ],
    code: comb.code,
    workgroups: [1],
  });
  // x̂ and z of element i (channel ch) from y and this step's statistics.
  const xhat = `fn xhat(i: u32, ch: u32) -> f32 { return (Y[i] - P[ch]) * P[u.C + ch]; }
fn zOf(xh: f32, ch: u32) -> f32 { return xh * P[2u * u.C + ch] + P[3u * u.C + ch]; }`;
  const norm = elementwise(M * C, `let ch = i % u.C; H[i] = act_${act}(zOf(xhat(i, ch), ch));`, ACTIVATION_WGSL + xhat);
  p.dispatch(`${s.name}.bn.apply`, {
    params: [...norm.params, ['C', 'u32', C]],
    bindings: [{ name: 'Y', buffer: y }, { name: 'P', buffer: P }, { name: 'H', buffer: h, access: 'read_write' }],
    code: norm.code,
    workgroups: norm.workgroups,
  });

  const layer: CompiledLayer = {
    backward(dy, needDx) {
      const helpers = actHelpers + xhat;
      const sums = partialKernel(M, C, '', 'let xh = xhat(i, ch); let q0 = DY[i] * dact_z(zOf(xh, ch)); let q1 = q0 * xh;', helpers);
      p.dispatch(`${s.name}.bn.dsums`, {
        params: [...sums.params],
        bindings: [{ name: 'DY', buffer: dy }, { name: 'Y', buffer: y }, { name: 'P', buffer: P }, { name: 'Part', buffer: partials, access: 'read_write' }],
        code: sums.code,
        workgroups: [sums.chunks],
      });
      const gUp = c.update(bn.gamma, 'g');
      const gcomb = combineKernel(sums.chunks, C, `P[4u * u.C + ch] = s.x; P[5u * u.C + ch] = s.y; ${gUp.fn}(ch, s.y);`, gUp.helpers);
      p.dispatch(`${s.name}.bn.dgamma`, { params: gcomb.params, bindings: [{ name: 'Part', buffer: partials }, { name: 'P', buffer: P, access: 'read_write' }, ...gUp.bindings], code: gcomb.code, workgroups: [1] });
      // dY = γ·rstd·(dz − Σdz/M − x̂·Σdz·x̂/M); the first C threads also apply β's update (dβ = Σdz).
      const bUp = c.update(bn.beta, 'bt');
      const dyn = c.buffer(M * C, `${s.name}.dy`);
      const dyk = elementwise(
        M * C,
        `let ch = i % u.C;
    let xh = xhat(i, ch);
    let dz = DY[i] * dact_z(zOf(xh, ch));
    G[i] = P[2u * u.C + ch] * P[u.C + ch] * (dz - P[4u * u.C + ch] * u.invM - xh * P[5u * u.C + ch] * u.invM);
    if (i < u.C) { ${bUp.fn}(i, P[4u * u.C + i]); }`,
        helpers + bUp.helpers,
      );
      p.dispatch(`${s.name}.bn.dy`, {
        params: [...dyk.params, ['C', 'u32', C], ['invM', 'f32', 1 / M]],
        bindings: [{ name: 'DY', buffer: dy }, { name: 'Y', buffer: y }, { name: 'P', buffer: P }, { name: 'G', buffer: dyn, access: 'read_write' }, ...bUp.bindings],
        code: dyk.code,
        workgroups: dyk.workgroups,
      });
      const gz = 'fn gz(i: u32) -> f32 { return G[i]; }';
      const gzBindings: Binding[] = [{ name: 'G', buffer: dyn }];
      const dx = needDx ? recordDx(c, s, geo, B, W, gz, gzBindings) : null;
      recordDw(c, s, geo, M, x, gz, gzBindings, chain);
      return dx;
    },
  };
  return { y: h, ho, wo, layer };
}

/** The conv as im2col(x)·W with the caller's store (u32 m = output row, n = channel, f32 acc). */
function recordForward(c: StepCompiler, s: ConvStepSpec, geo: Param[], M: number, x: GPUBuffer, W: GPUBuffer, out: { store: string; storeBindings: Binding[]; storeHelpers?: string }): void {
  recordMatmul(c.program, `${s.name}.conv`, {
    M,
    N: s.c,
    K: s.k * s.k * s.cin,
    a: 'xPatch(m, k)',
    b: 'W[wIndex(k, n)]',
    helpers: GEOMETRY,
    loadHelpers: X_PATCH,
    ...out,
    params: geo,
    loadBindings: [{ name: 'X', buffer: x }, { name: 'W', buffer: W }],
  });
}

/**
 * dx = the transposed conv of dY. Stride 1: the gather form, one product whose loads pick the dY each input
 * element reaches (no atomics, no second pass). Stride 2: the gather form would spend 3 of 4 of its terms on
 * taps between the stride's samples, so the implicit col2im instead: dCols = dY·Wᵀ ([B·Ho·Wo, k²·cin], a
 * dense product over c), then each input element sums the dCols entries of the outputs that saw it.
 */
function recordDx(c: StepCompiler, s: ConvStepSpec, geo: Param[], B: number, W: GPUBuffer, gz: string, gzBindings: Binding[]): GPUBuffer {
  const rows = B * s.h * s.w;
  const dx = c.buffer(rows * s.cin, `${s.name}.dx`);
  const loadBindings = [...gzBindings, { name: 'W', buffer: W }];
  const [ho, wo] = [Math.ceil(s.h / s.stride), Math.ceil(s.w / s.stride)];
  const taps = s.k * s.k * s.cin;
  // dCols holds k²·cin/s² floats per input element: past the device's binding size, the gather form.
  if (s.stride === 1 || B * ho * wo * taps * 4 > c.program.device.limits.maxStorageBufferBindingSize) {
    recordMatmul(c.program, `${s.name}.dx`, {
      M: rows,
      N: s.cin,
      K: s.k * s.k * s.c,
      a: 'dyGather(m, k)',
      b: 'W[wtIndex(k, n)]',
      bFast: 'k',
      helpers: GEOMETRY,
      loadHelpers: gz + DY_GATHER,
      store: 'DX[m * u.ci + n] = acc;',
      params: geo,
      loadBindings,
      storeBindings: [{ name: 'DX', buffer: dx, access: 'read_write' }],
    });
    return dx;
  }
  const cols = c.buffer(B * ho * wo * taps, `${s.name}.dcols`);
  const params: Param[] = [...geo, ['taps', 'u32', taps]];
  recordMatmul(c.program, `${s.name}.dcols`, {
    M: B * ho * wo,
    N: taps,
    K: s.c,
    a: 'gz(m * u.co + k)',
    b: 'W[wIndex(n, k)]',
    bFast: 'k',
    helpers: GEOMETRY,
    loadHelpers: gz,
    store: 'DC[m * u.taps + n] = acc;',
    params,
    loadBindings,
    storeBindings: [{ name: 'DC', buffer: cols, access: 'read_write' }],
  });
  // Only taps congruent to the position (mod the stride) reach it: the loops start there and step by it.
  const col2im = elementwise(
    rows * s.cin,
    `let ch = i % u.ci;
    let p = splitPos(i / u.ci, u.ih, u.iw);
    var acc = 0.0;
    for (var ty = (p.y + u.pt) % u.st; ty < u.ks; ty += u.st) {
      if (p.y + u.pt < ty) { continue; }
      let oy = (p.y + u.pt - ty) / u.st;
      if (oy >= u.oh) { continue; }
      for (var tx = (p.z + u.pl) % u.st; tx < u.ks; tx += u.st) {
        if (p.z + u.pl < tx) { continue; }
        let ox = (p.z + u.pl - tx) / u.st;
        if (ox >= u.ow) { continue; }
        acc += DC[((p.x * u.oh + oy) * u.ow + ox) * u.taps + (ty * u.ks + tx) * u.ci + ch];
      }
    }
    DX[i] = acc;`,
    GEOMETRY,
  );
  c.program.dispatch(`${s.name}.col2im`, {
    params: [...params, ...col2im.params],
    bindings: [{ name: 'DC', buffer: cols }, { name: 'DX', buffer: dx, access: 'read_write' }],
    code: col2im.code,
    workgroups: col2im.workgroups,
  });
  return dx;
}

/**
 * dW = im2col(x)ᵀ·dY with the optimizer update in the store. K = B·Ho·Wo dwarfs the k²·cin × c output, so
 * K is split until the grid has ~256 workgroups (each chunk ≥ 256 rows).
 */
function recordDw(c: StepCompiler, s: ConvStepSpec, geo: Param[], M: number, x: GPUBuffer, gz: string, gzBindings: Binding[], chain: KernelChain | null): void {
  // Through a kernel transformation the gradient of the transformed kernel is stored for the chain's backward.
  const dk = chain ? c.buffer(s.k * s.k * s.cin * s.c, `${s.name}.dkernel`) : null;
  const kUp = dk ? { helpers: '', fn: '', bindings: [{ name: 'DK', buffer: dk, access: 'read_write' as const }] } : c.update(s.kernel, 'k');
  const taps = s.k * s.k * s.cin;
  const splitK = splitKFor(taps, s.c, M);
  recordMatmul(c.program, `${s.name}.dW`, {
    M: taps,
    N: s.c,
    K: M,
    a: 'xPatch(k, m)',
    aFast: 'm',
    b: 'gz(k * u.co + n)',
    helpers: GEOMETRY,
    loadHelpers: X_PATCH + gz,
    storeHelpers: kUp.helpers,
    store: dk ? 'DK[wIndex(m, n)] = acc;' : `${kUp.fn}(wIndex(m, n), acc);`,
    params: geo,
    loadBindings: [{ name: 'X', buffer: x }, ...gzBindings],
    storeBindings: kUp.bindings,
    splitK,
  });
  if (chain) chain.backward(dk!);
}
