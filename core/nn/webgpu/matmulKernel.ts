/**
 * One parametrised WGSL code generator for the project's tiled fp32 matmul (issue 18, goal 3): the body of
 * GroupedMatmulProgram (moeKernels.ts: the MoE grouped matmul and, through matmulOverride.ts, tf.matMul)
 * and every variant bench/matmulSweep.ts times. The variant `base` generates exactly the kernel the
 * product ran before this file existed (128×128 tile, 8×8 outputs per thread, BK 16, A tile staged
 * transposed, unrolled, register prefetch; 20 TFLOP/s at 4096³ on the H200); the others change one or a
 * few of its choices so the sweep can say which one is worth what.
 *
 * The code follows tfjs-webgpu's program conventions (it is appended to tfjs' generated header): bindings
 * `result` (array<vec4<f32>>, [batches, M, N]), `A`, `B` (array<vec4<f32>>), `R` (array<i32>: the MoE
 * routing table, read only when `countOff ≥ 0`), optional `Bias` / `Mask`; uniforms M, N4, K, aBatch, bBatch,
 * countOff (batch strides in vec4); builtins through tfjs' private copies localId, workgroupId, numWorkgroups.
 *
 * Operand layouts (row-major, one z-slice of the dispatch per batch / expert e):
 *   nn  A[e] = [M, K], B[e] = [K, N]     out = A·B
 *   tn  A[e] = [K, M], B[e] = [K, N]     out = Aᵀ·B   (weight gradients)
 *   nt  A[e] = [M, K], B[e] = [N, K]     out = A·Bᵀ   (input gradients against a stored weight)
 * Routed rows (countOff ≥ 0): nn/nt compute output rows below count[e] only (whole tiles past it exit),
 * tn reduces over the first count[e] rows of A and B only. Vec4 loads need K (nn, nt), N, and M (tn) to be
 * multiples of 4.
 *
 * The tiling is the classic register-blocked SGEMM (as in Simon Boehm's "How to optimize a CUDA matmul
 * kernel for cuBLAS-like performance", kernels 5–6, and CUTLASS' threadblock/thread tiles): a BM×BN output
 * tile per workgroup, TM×TN outputs per thread as TM/4 groups of 4 rows and TN/4 vec4 columns spread over
 * the tile (stride BM/(TM/4) and BN/(TN/4)), so a warp's reads of the staged B tile hit consecutive vec4
 * and its reads of the staged A tile are broadcasts.
 */

/** Operand layouts; see the header. */
export type MatmulMode = 'nn' | 'tn' | 'nt';

export interface MatmulVariant {
  /** Output tile rows × columns per workgroup. */
  bm: number;
  bn: number;
  /** Outputs per thread: rows (multiple of 4) × columns (multiple of 4, as vec4). Threads = (bm/tm)·(bn/tn). */
  tm: number;
  tn: number;
  /** K-tile depth staged in workgroup memory per step (multiple of 4). */
  bk: number;
  /**
   * How the A tile sits in workgroup memory for 'nn' / 'nt': 'km' = transposed, [k][m] as vec4 along m
   * (written one component at a time; the inner loop reads tm/4 vec4 per k step), 'mk' = [m][k] as vec4
   * along k, rows padded by one vec4 against bank conflicts (tm vec4 per 4 k steps). 'tn' is always 'km'.
   */
  aStage: 'km' | 'mk';
  /** 1: one tile buffer, two barriers per K step; 2: double-buffered tiles, one barrier per K step. */
  stages: 1 | 2;
  /** Unroll the product over one staged tile in WGSL (indices become literals). */
  unroll: boolean;
  /**
   * Load the next K tile from global memory into registers while the current one is multiplied (the
   * loads' latency hides behind the FMAs). Off: load then store at the start of each step, fewer live
   * registers (more workgroups per SM). stages 2 always prefetches.
   */
  prefetch: boolean;
  /**
   * Bounds handling of global loads/stores: 'branch' = if in bounds load else 0; 'select' = load from a
   * clamped index unconditionally and select 0 (no divergent branch around the load); 'none' = no checks
   * (only for unrouted products whose M, N, K are multiples of the tile: see fitMatmulVariant).
   */
  guard: 'branch' | 'select' | 'none';
  /**
   * Tile rasterisation: 0 = row-major over the dispatch grid; G > 0 = groups of G tile rows walked
   * column by column (Triton's matmul tutorial, "L2 cache optimizations"), so concurrently running
   * workgroups share A and B panels in L2.
   */
  swizzle: number;
  /** With aStage 'km' and unroll: read the next k step's A/B fragments before this step's FMAs. */
  fragAhead: boolean;
  /**
   * Lane arrangement inside a 32-thread warp: 0 = the workgroup's own row-major order (bn/tn threads per
   * row: 16×2 lanes at bn/tn = 16); L > 0 = L×(32/L) lanes (8 = CUTLASS' SIMT 8×4 arrangement), so a
   * warp's fragment reads touch 32/L distinct A vec4 and L distinct B vec4 per k step instead of 2 and 16.
   */
  lanes: number;
}

/** Today's kernel (the product default; matmulTuning in moeKernels.ts still tunes it). */
export const BASE_MATMUL_VARIANT: Readonly<MatmulVariant> = Object.freeze({
  bm: 128,
  bn: 128,
  tm: 8,
  tn: 8,
  bk: 16,
  aStage: 'km',
  stages: 1,
  unroll: true,
  prefetch: true,
  guard: 'branch',
  swizzle: 0,
  fragAhead: false,
  lanes: 0,
});

const v = (p: Partial<MatmulVariant>): MatmulVariant => ({ ...BASE_MATMUL_VARIANT, ...p });

/**
 * The named variants bench/matmulSweep.ts times (SWITCHYARD_MATMUL_VARIANT=<name> selects one for the
 * product). Each changes base along one axis, then a few combinations of the axes most likely to matter
 * on the H200 (register pressure → workgroups per SM, barrier stalls, branch-free loads, L2 order).
 */
export const MATMUL_VARIANTS: Readonly<Record<string, MatmulVariant>> = {
  base: v({}),
  // one axis at a time
  bk8: v({ bk: 8 }),
  bk32: v({ bk: 32 }),
  mk: v({ aStage: 'mk' }),
  loop: v({ unroll: false }),
  db: v({ stages: 2 }),
  'db-bk8': v({ stages: 2, bk: 8 }),
  noprefetch: v({ prefetch: false }),
  select: v({ guard: 'select' }),
  aligned: v({ guard: 'none' }),
  swz8: v({ swizzle: 8 }),
  ahead: v({ fragAhead: true }),
  lanes8x4: v({ lanes: 8 }),
  lanes4x8: v({ lanes: 4 }),
  // smaller workgroups (128 threads): more of them per SM at the same registers per thread
  '128x64': v({ bn: 64 }),
  '64x128': v({ bm: 64 }),
  '128x64-bk32': v({ bn: 64, bk: 32 }),
  '64x128-bk32': v({ bm: 64, bk: 32 }),
  // fewer outputs per thread (32 accumulators: fewer registers), 256 threads
  '128x64-8x4': v({ bn: 64, tn: 4 }),
  '64x128-4x8': v({ bm: 64, tm: 4 }),
  '64x64-4x4': v({ bm: 64, bn: 64, tm: 4, tn: 4 }),
  // combinations
  'db-select': v({ stages: 2, guard: 'select' }),
  'db-select-swz8': v({ stages: 2, guard: 'select', swizzle: 8 }),
  'select-swz8': v({ guard: 'select', swizzle: 8 }),
  'bk8-select-swz8': v({ bk: 8, guard: 'select', swizzle: 8 }),
  'noprefetch-select-swz8': v({ prefetch: false, guard: 'select', swizzle: 8 }),
  'aligned-swz8': v({ guard: 'none', swizzle: 8 }),
  'aligned-db-swz8': v({ guard: 'none', stages: 2, swizzle: 8 }),
  'aligned-db-bk8-swz8': v({ guard: 'none', stages: 2, bk: 8, swizzle: 8 }),
  'aligned-ahead-swz8': v({ guard: 'none', fragAhead: true, swizzle: 8 }),
  '128x64-select-swz8': v({ bn: 64, guard: 'select', swizzle: 8 }),
  '128x64-db-select-swz8': v({ bn: 64, stages: 2, guard: 'select', swizzle: 8 }),
  '64x128-db-select-swz8': v({ bm: 64, stages: 2, guard: 'select', swizzle: 8 }),
  '128x64-aligned-db-swz8': v({ bn: 64, stages: 2, guard: 'none', swizzle: 8 }),
  '128x64-8x4-db-select-swz8': v({ bn: 64, tn: 4, stages: 2, guard: 'select', swizzle: 8 }),
  'lanes8x4-select-swz8': v({ lanes: 8, guard: 'select', swizzle: 8 }),
  'lanes8x4-db-select-swz8': v({ lanes: 8, stages: 2, guard: 'select', swizzle: 8 }),
  'aligned-lanes8x4-swz8': v({ lanes: 8, guard: 'none', swizzle: 8 }),
  'aligned-lanes8x4-db-bk8-swz8': v({ lanes: 8, guard: 'none', stages: 2, bk: 8, swizzle: 8 }),
};

/** The variant the product uses when SWITCHYARD_MATMUL_VARIANT is unset. */
export const DEFAULT_MATMUL_VARIANT = 'base';

/** Which named variant the product runs (benchmarks set `name`; the env var sets it at load). */
export const matmulVariantChoice: { name: string } = {
  name: (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.SWITCHYARD_MATMUL_VARIANT || DEFAULT_MATMUL_VARIANT,
};

/** Threads per workgroup along x (columns) and y (rows). */
export function matmulWorkgroupSize(p: MatmulVariant): [number, number, number] {
  return [p.bn / p.tn, p.bm / p.tm, 1];
}

/** One workgroup per output tile, one z-slice per batch. */
export function matmulDispatch(p: MatmulVariant, M: number, N: number, batches: number): [number, number, number] {
  return [Math.ceil(N / p.bn), Math.ceil(M / p.bm), batches];
}

const aStaged = (p: MatmulVariant, mode: MatmulMode) => (mode === 'tn' || p.aStage === 'km' ? 'km' : 'mk');
const aTileVec4 = (p: MatmulVariant, mode: MatmulMode) => (aStaged(p, mode) === 'km' ? p.bk * (p.bm / 4) : p.bm * (p.bk / 4 + 1));

/** Workgroup memory the kernel declares, in bytes. */
export function matmulWorkgroupBytes(p: MatmulVariant, mode: MatmulMode): number {
  return (aTileVec4(p, mode) + p.bk * (p.bn / 4)) * 16 * p.stages + 4;
}

/** Why the parameters cannot make a kernel, or null. */
export function matmulVariantProblem(p: MatmulVariant): string | null {
  const threads = (p.bm / p.tm) * (p.bn / p.tn);
  if (p.tm % 4 || p.tn % 4 || p.bk % 4) return 'tm, tn and bk must be multiples of 4';
  if (p.bm % p.tm || p.bn % p.tn) return 'the tile must be a whole number of thread tiles';
  if (threads > 256) return `${threads} threads per workgroup (WebGPU's default limit is 256)`;
  if (((p.bm * p.bk) / 4) % threads || ((p.bk * p.bn) / 4) % threads) return 'each thread must load a whole number of vec4 of each tile';
  if (p.fragAhead && !p.unroll) return 'fragAhead needs unroll';
  if (p.lanes > 0 && (32 % p.lanes || threads % 32 || (p.bn / p.tn) % p.lanes || (p.bm / p.tm) % (32 / p.lanes))) {
    return `lanes ${p.lanes}×${32 / p.lanes} must tile the ${p.bn / p.tn}×${p.bm / p.tm} threads in whole warps`;
  }
  return null;
}

/** Short stable key of the parameters (shader cache keys, logs). */
export function matmulVariantKey(p: MatmulVariant): string {
  return `${p.bm}x${p.bn}_${p.tm}x${p.tn}_k${p.bk}_${p.aStage}_s${p.stages}_u${+p.unroll}_p${+p.prefetch}_${p.guard}_z${p.swizzle}_f${+p.fragAhead}_l${p.lanes}`;
}

/**
 * The variant to run for one product, or null for the product default (GroupedMatmulProgram's own
 * matmulTuning path). An unknown name throws (a mistyped SWITCHYARD_MATMUL_VARIANT must not pass for a
 * measurement); a variant that needs more workgroup memory than the device has falls back to the default;
 * guard 'none' becomes 'select' unless the product is unrouted and tile-aligned.
 */
export function fitMatmulVariant(
  name: string,
  mode: MatmulMode,
  shape: { M: number; N: number; K: number; routed: boolean },
  maxWorkgroupBytes: number,
): MatmulVariant | null {
  if (name === DEFAULT_MATMUL_VARIANT) return null;
  const p = MATMUL_VARIANTS[name];
  if (!p) throw new Error(`unknown matmul variant "${name}" (SWITCHYARD_MATMUL_VARIANT); known: ${Object.keys(MATMUL_VARIANTS).join(', ')}`);
  if (matmulWorkgroupBytes(p, mode) > maxWorkgroupBytes) return null;
  if (p.guard === 'none' && !matmulAligned(p, mode, shape)) return { ...p, guard: 'select' };
  return p;
}

/** True when guard 'none' is exact for this product: every tile full, no routed counts. */
export function matmulAligned(p: MatmulVariant, _mode: MatmulMode, s: { M: number; N: number; K: number; routed: boolean }): boolean {
  return !s.routed && s.M % p.bm === 0 && s.N % p.bn === 0 && s.K % p.bk === 0;
}

export interface MatmulEpilogue {
  /** + Bias[e, n] (binding `Bias`, vec4). */
  bias: boolean;
  relu: boolean;
  /** × (Mask[e, m, n] > 0) (binding `Mask`, vec4; the relu backward). */
  mask: boolean;
}

const XYZW = 'xyzw';

/**
 * WGSL body (`fn main(index : i32)` and its workgroup arrays) of the matmul for one variant, mode and
 * epilogue; see the header for bindings and uniforms.
 */
export function matmulKernelSource(p: MatmulVariant, mode: MatmulMode, epilogue: MatmulEpilogue): string {
  const problem = matmulVariantProblem(p);
  if (problem) throw new Error(`matmul variant ${matmulVariantKey(p)}: ${problem}`);
  const { bm: BM, bn: BN, tm: TM, tn: TN, bk: BK } = p;
  const TX = BN / TN;
  const TY = BM / TM;
  const T = TX * TY;
  const BM4 = BM / 4;
  const BN4 = BN / 4;
  const KQ = BK / 4;
  const GM = TM / 4; // row groups per thread
  const GN = TN / 4; // vec4 columns per thread
  const rowStride = BM / GM; // rows between a thread's row groups
  const colStride = BN / 4 / GN; // vec4 between a thread's column vec4 (= TX)
  const aKM = aStaged(p, mode) === 'km';
  const SA = KQ + 1;
  const aSize = aTileVec4(p, mode);
  const bSize = BK * BN4;
  const rowsMode = mode !== 'tn'; // nn / nt: routed counts bound the output rows; tn: the reduction
  const acc = (i: number, h: number) => `acc${i}_${h}`;
  const lines: string[] = [];
  for (let i = 0; i < TM; i++) for (let h = 0; h < GN; h++) lines.push(`  var ${acc(i, h)} = vec4<f32>(0.0);`);
  const decl = lines.join('\n');

  // A guarded global load into register `reg` (one vec4).
  const guarded = (reg: string, buf: string, index: string, cond: string) => {
    if (p.guard === 'none') return `${reg} = ${buf}[${index}];`;
    if (p.guard === 'select') {
      const ok = cond.split(' && ').map((c) => `(${c})`).join(' & ');
      return `{ let ok = ${ok}; ${reg} = select(vec4<f32>(0.0), ${buf}[select(0, ${index}, ok)], ok); }`;
    }
    return `if (${cond}) { ${reg} = ${buf}[${index}]; } else { ${reg} = vec4<f32>(0.0); }`;
  };

  const loadsA = (BM * BK) / 4 / T;
  const loadsB = (BK * BN) / 4 / T;
  const loadA: string[] = [];
  const storeA: string[] = [];
  const loadB: string[] = [];
  const storeB: string[] = [];
  for (let j = 0; j < loadsA; j++) {
    if (mode !== 'tn') {
      loadA.push(`
    {
      let idx = tid + ${T * j};
      let r = idx / ${KQ};
      let kq = idx - r * ${KQ};
      let gm = m0 + r;
      let gk = k0 / 4 + kq;
      ${guarded(`ra${j}`, 'A', 'aBase + gm * K4 + gk', 'gm < rowLimit && gk < K4')}
    }`);
      if (aKM) {
        storeA.push(
          `  { let idx = tid + ${T * j}; let r = idx / ${KQ}; let kq = idx - r * ${KQ}; let mv = r / 4; let mc = r - mv * 4;` +
            [0, 1, 2, 3].map((c) => ` As[(kq * 4 + ${c}) * ${BM4} + mv][mc] = ra${j}.${XYZW[c]};`).join('') +
            ' }',
        );
      } else {
        storeA.push(`  { let idx = tid + ${T * j}; let r = idx / ${KQ}; let kq = idx - r * ${KQ}; As[r * ${SA} + kq] = ra${j}; }`);
      }
    } else {
      loadA.push(`
    {
      let idx = tid + ${T * j};
      let kr = idx / ${BM4};
      let mv = idx - kr * ${BM4};
      let gk = k0 + kr;
      let gm4 = m0 / 4 + mv;
      ${guarded(`ra${j}`, 'A', 'aBase + gk * M4 + gm4', 'gk < kLimit && gm4 < M4')}
    }`);
      storeA.push(`  As[tid + ${T * j}] = ra${j};`);
    }
  }
  for (let j = 0; j < loadsB; j++) {
    if (mode !== 'nt') {
      loadB.push(`
    {
      let idx = tid + ${T * j};
      let kr = idx / ${BN4};
      let nv = idx - kr * ${BN4};
      let gk = k0 + kr;
      let gn4 = n0 / 4 + nv;
      ${guarded(`rb${j}`, 'B', 'bBase + gk * N4 + gn4', 'gk < kLimit && gn4 < N4')}
    }`);
      storeB.push(`  Bs[tid + ${T * j}] = rb${j};`);
    } else {
      // B is [N, K]: vec4 along k, staged transposed into [k][n] like A in 'km'.
      loadB.push(`
    {
      let idx = tid + ${T * j};
      let c = idx / ${KQ};
      let kq = idx - c * ${KQ};
      let gn = n0 + c;
      let gk = k0 / 4 + kq;
      ${guarded(`rb${j}`, 'B', 'bBase + gn * K4 + gk', 'gn < N && gk < K4')}
    }`);
      storeB.push(
        `  { let idx = tid + ${T * j}; let c = idx / ${KQ}; let kq = idx - c * ${KQ}; let nv = c / 4; let nc = c - nv * 4;` +
          [0, 1, 2, 3].map((q) => ` Bs[(kq * 4 + ${q}) * ${BN4} + nv][nc] = rb${j}.${XYZW[q]};`).join('') +
          ' }',
      );
    }
  }
  const regs = Array.from({ length: Math.max(loadsA, loadsB) }, (_, j) =>
    [j < loadsA ? `  var ra${j} : vec4<f32>;` : '', j < loadsB ? `  var rb${j} : vec4<f32>;` : ''].filter((s) => s).join('\n'),
  ).join('\n');

  // Inner product over one staged tile (loop or unrolled: the index is a WGSL variable or a literal).
  const off = (k: number, stride: number) => (k === 0 ? '' : `${k * stride} + `);
  const inner: string[] = [];
  const loop = (n: number, iv: string, body: (iv: string) => string[]) => {
    if (p.unroll) for (let u = 0; u < n; u++) inner.push('  {', ...body(String(u)), '  }');
    else inner.push(`  for (var ${iv} = 0; ${iv} < ${n}; ${iv}++) {`, ...body(iv), '  }');
  };
  if (!aKM) {
    loop(KQ, 'kq', (kq) => {
      const out: string[] = [];
      for (let i = 0; i < TM; i++) {
        const row = `${off(Math.floor(i / 4), rowStride)}ty * 4 + ${i % 4}`;
        out.push(`    let a${i} = As[(${row}) * ${SA} + ${kq}];`);
      }
      for (let j = 0; j < 4; j++) {
        const bs = Array.from({ length: GN }, (_, h) => `let b${h} = Bs[(${kq} * 4 + ${j}) * ${BN4} + ${off(h, colStride)}tx];`);
        out.push(`    { ${bs.join(' ')}`);
        for (let i = 0; i < TM; i++) {
          const c = XYZW[j];
          out.push(`      ${Array.from({ length: GN }, (_, h) => `${acc(i, h)} = fma(vec4<f32>(a${i}.${c}), b${h}, ${acc(i, h)});`).join(' ')}`);
        }
        out.push('    }');
      }
      return out;
    });
  } else {
    const frag = (kk: string, s = '') => [
      `    ${Array.from({ length: GM }, (_, g) => `let a${g}${s} = As[${kk} * ${BM4} + ${off(g, TY)}ty];`).join(' ')}`,
      `    ${Array.from({ length: GN }, (_, h) => `let b${h}${s} = Bs[${kk} * ${BN4} + ${off(h, TX)}tx];`).join(' ')}`,
    ];
    const fmas = (s = '') =>
      Array.from({ length: TM }, (_, i) => {
        const av = `a${Math.floor(i / 4)}${s}.${XYZW[i % 4]}`;
        return `    ${Array.from({ length: GN }, (_, h) => `${acc(i, h)} = fma(vec4<f32>(${av}), b${h}${s}, ${acc(i, h)});`).join(' ')}`;
      });
    if (p.fragAhead) {
      // Fragments of step u+1 are read before step u's FMAs (names carry the step: no reuse hazards).
      inner.push('  {', ...frag('0', '_0'));
      for (let u = 0; u < BK; u++) {
        if (u + 1 < BK) inner.push(...frag(String(u + 1), `_${u + 1}`));
        inner.push(...fmas(`_${u}`));
      }
      inner.push('  }');
    } else {
      loop(BK, 'kk', (kk) => [...frag(kk), ...fmas()]);
    }
  }

  const store: string[] = [];
  for (let i = 0; i < TM; i++) {
    const row = `m0 + ${off(Math.floor(i / 4), rowStride)}ty * 4 + ${i % 4}`;
    for (let h = 0; h < GN; h++) {
      const nv = `n0 / 4 + ${off(h, colStride)}tx`;
      const ep: string[] = [];
      if (epilogue.bias) ep.push(`v = v + Bias[e * N4 + gn4];`);
      if (epilogue.relu) ep.push('v = max(v, vec4<f32>(0.0));');
      if (epilogue.mask) ep.push('v = select(vec4<f32>(0.0), v, Mask[o] > vec4<f32>(0.0));');
      const body = `let o = oBase + gm * N4 + gn4; var v = ${acc(i, h)}; ${ep.join(' ')} result[o] = v;`;
      store.push(`  { let gm = ${row}; let gn4 = ${nv}; ${p.guard === 'none' ? body : `if (gm < M && gn4 < N4) { ${body} }`} }`);
    }
  }

  // Stage offsets: stores write at aw/bw, the inner product reads at ar/br.
  const storeAt = (ls: string[]) => ls.map((l) => l.replace(/As\[/g, 'As[aw + ').replace(/Bs\[/g, 'Bs[bw + ')).join('\n');
  const innerAt = inner.map((l) => l.replace(/As\[/g, 'As[ar + ').replace(/Bs\[/g, 'Bs[br + ')).join('\n');
  const preload = p.stages === 2 || p.prefetch;
  let mainLoop: string;
  if (p.stages === 1 && p.prefetch) {
    mainLoop = `
  let aw = 0; let bw = 0; let ar = 0; let br = 0;
  for (var tile = 0; tile < numTiles; tile++) {
    workgroupBarrier();
${storeAt([...storeA, ...storeB])}
    workgroupBarrier();
    k0 = k0 + ${BK};
    if (tile + 1 < numTiles) {
${loadA.join('\n')}
${loadB.join('\n')}
    }
${innerAt}
  }`;
  } else if (p.stages === 1) {
    mainLoop = `
  let aw = 0; let bw = 0; let ar = 0; let br = 0;
  for (var tile = 0; tile < numTiles; tile++) {
    workgroupBarrier();
${loadA.join('\n')}
${loadB.join('\n')}
${storeAt([...storeA, ...storeB])}
    workgroupBarrier();
    k0 = k0 + ${BK};
${innerAt}
  }`;
  } else {
    mainLoop = `
  {
    let aw = 0; let bw = 0;
${storeAt([...storeA, ...storeB])}
  }
  workgroupBarrier();
  for (var tile = 0; tile < numTiles; tile++) {
    let cur = tile & 1;
    let ar = cur * ${aSize}; let br = cur * ${bSize};
    k0 = k0 + ${BK};
    if (tile + 1 < numTiles) {
${loadA.join('\n')}
${loadB.join('\n')}
    }
${innerAt}
    if (tile + 1 < numTiles) {
      let aw = (1 - cur) * ${aSize}; let bw = (1 - cur) * ${bSize};
${storeAt([...storeA, ...storeB])}
    }
    workgroupBarrier();
  }`;
  }
  const threadIds =
    p.lanes > 0
      ? `  let tid = i32(localId.y) * ${TX} + i32(localId.x);
  // ${p.lanes}×${32 / p.lanes} lanes per warp, warps row-major over the thread grid.
  let lane = tid % 32;
  let warp = tid / 32;
  let tx = (warp % ${TX / p.lanes}) * ${p.lanes} + lane % ${p.lanes};
  let ty = (warp / ${TX / p.lanes}) * ${32 / p.lanes} + lane / ${p.lanes};`
      : `  let tx = i32(localId.x);
  let ty = i32(localId.y);
  let tid = ty * ${TX} + tx;`;
  const tileOrigin =
    p.swizzle > 0
      ? `  // Grouped tile order (Triton's matmul tutorial): ${p.swizzle} tile rows walked column by column.
  let gx = i32(numWorkgroups.x);
  let gy = i32(numWorkgroups.y);
  let pid = i32(workgroupId.y) * gx + i32(workgroupId.x);
  let span = ${p.swizzle} * gx;
  let first = (pid / span) * ${p.swizzle};
  let rowsIn = min(gy - first, ${p.swizzle});
  let inGroup = pid - (pid / span) * span;
  let m0 = (first + inGroup % rowsIn) * ${BM};
  let n0 = (inGroup / rowsIn) * ${BN};`
      : `  let m0 = i32(workgroupId.y) * ${BM};
  let n0 = i32(workgroupId.x) * ${BN};`;
  return `
var<workgroup> As: array<vec4<f32>, ${aSize * p.stages}>;
var<workgroup> Bs: array<vec4<f32>, ${bSize * p.stages}>;
var<workgroup> limitShared: i32;

fn main(index : i32) {
${threadIds}
  let e = i32(workgroupId.z);
  let M = uniforms.M;
  let N4 = uniforms.N4;
  let K = uniforms.K;
  let K4 = K / 4;
  let M4 = M / 4;${mode === 'nt' ? '\n  let N = N4 * 4;' : ''}
${tileOrigin}
  // workgroup_id reaches main() through a private copy, which WGSL's uniformity analysis treats as
  // non-uniform: the skip decision goes through workgroupUniformLoad so the barriers below stay legal.
  if (tid == 0) {
    var lim = ${rowsMode ? 'M' : 'K'};
    if (uniforms.countOff >= 0) { lim = min(lim, R[uniforms.countOff + e]); }
    ${rowsMode ? 'if (m0 >= lim) { lim = -1; }' : ''}
    limitShared = lim;
  }
  let limit = workgroupUniformLoad(&limitShared);
  if (limit < 0) { return; }
  let rowLimit = ${rowsMode ? 'limit' : 'M'};
  let kLimit = ${rowsMode ? 'K' : 'limit'};
  let aBase = e * uniforms.aBatch;
  let bBase = e * uniforms.bBatch;
  let oBase = e * M * N4;
${decl}
${regs}
  let numTiles = (kLimit + ${BK - 1}) / ${BK};
  var k0 = 0;
${preload ? `${loadA.join('\n')}\n${loadB.join('\n')}\n` : ''}${mainLoop}
${store.join('\n')}
}
`;
}
