/**
 * A recorded training step: a fixed list of compute dispatches, each with its pipeline, bind group and
 * uniform values created once, replayed every step in one compute pass and one queue submission.
 *
 * Why (bench/RESULTS.md, issue 18): through tfjs every op of a supernet step costs ~40 µs of host work
 * (engine bookkeeping, a bind group and a uniform buffer per dispatch, staging buffers for JS numbers), so
 * a 110–1240-op step is host-bound at 4.5–73 ms while its GPU work is 0.5–28 ms. For a fixed subnet the
 * shapes are fixed, so everything but the batch's data and the step's scalars (written with
 * `queue.writeBuffer`) can be built once: a replay is a few Dawn calls per dispatch.
 *
 * Kernel convention: a kernel's code names its params `u.<name>` and its buffers by binding name; the
 * declarations are generated (`kernelSource`: params at binding 0, buffers from 1). The step's scalars are
 * a uniform buffer (`stepValues`, struct `StepValues`) that a kernel binds like any other buffer
 * ({ name: 'sv', buffer: program.stepValues, access: 'uniform', type: 'StepValues' }).
 */
/// <reference types="@webgpu/types" />

export type ParamType = 'u32' | 'i32' | 'f32';
export type Param = readonly [name: string, type: ParamType, value: number];

/** The per-step scalars, written before each replay (`setStepValues`). */
export const STEP_VALUES_WGSL = /* wgsl */ `
struct StepValues {
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  momentum: f32,
  progress: f32,
  lnBeta1: f32,
  lnBeta2: f32,
};`;

export interface StepValues {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  momentum: number;
  progress: number;
}

interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function pipelineFor(device: GPUDevice, code: string, label: string): GPUComputePipeline {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  let p = cache.get(code);
  if (!p) {
    const module = device.createShaderModule({ code, label });
    p = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label });
    cache.set(code, p);
  }
  return p;
}

/** `struct Params { … }` for `params` (every field 4 bytes; the buffer is padded to 16). */
export function paramsStruct(params: readonly Param[]): string {
  if (params.length === 0) return '';
  return `struct Params {\n${params.map(([n, t]) => `  ${n}: ${t},`).join('\n')}\n};\n`;
}

function paramsData(params: readonly Param[]): ArrayBuffer {
  const bytes = Math.max(16, Math.ceil((params.length * 4) / 16) * 16);
  const buf = new ArrayBuffer(bytes);
  const view = new DataView(buf);
  params.forEach(([name, t, v], i) => {
    if (t === 'f32') view.setFloat32(i * 4, v, true);
    else if (t === 'i32') view.setInt32(i * 4, v, true);
    else {
      if (!Number.isInteger(v) || v < 0) throw new Error(`kernel param ${name} = ${v} is not a u32`);
      view.setUint32(i * 4, v, true);
    }
  });
  return buf;
}

/** One buffer a kernel reads or writes, declared under `name`. */
export interface Binding {
  name: string;
  buffer: GPUBuffer;
  /** 'read' (default), 'read_write', or 'uniform' (then `type` is a struct, e.g. 'StepValues'). */
  access?: 'read' | 'read_write' | 'uniform';
  /** WGSL type; default array<f32>. */
  type?: string;
}

export interface KernelCall {
  params?: readonly Param[];
  bindings: readonly Binding[];
  /** WGSL: helper functions and `@compute @workgroup_size(…) fn main(…)`. */
  code: string;
  workgroups: readonly number[];
}

/** The whole WGSL of a kernel: the params struct and every declaration, then `code`. */
export function kernelSource(params: readonly Param[], bindings: readonly Binding[], code: string): string {
  let src = paramsStruct(params);
  if (params.length > 0) src += '@group(0) @binding(0) var<uniform> u: Params;\n';
  if (bindings.some((b) => b.type === 'StepValues')) src += STEP_VALUES_WGSL + '\n';
  bindings.forEach((b, i) => {
    const access = b.access ?? 'read';
    const type = b.type ?? 'array<f32>';
    src += access === 'uniform' ? `@group(0) @binding(${i + 1}) var<uniform> ${b.name}: ${type};\n` : `@group(0) @binding(${i + 1}) var<storage, ${access}> ${b.name}: ${type};\n`;
  });
  return src + code;
}

/** WebGPU's usage and map-mode flags (the spec's values; the globals exist only once Dawn is loaded). */
const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128, QUERY_RESOLVE: 512 } as const;
const MAP_READ_MODE = 1;

export const STORAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/**
 * GPU objects shared by the compiled steps of one cache (StepCache): scratch buffers by label and size,
 * uniform buffers by content, bind groups by pipeline and buffers. SPOS trains a new subnet almost every
 * step (fashion-mlp's space has ~21 000), so a subnet's program must be cheap to build: after the first few
 * subnets every block choice's buffers, uniforms and bind groups exist and a build only assembles them.
 * Sharing scratch buffers between programs is safe because programs run one after another on one queue and
 * every kernel writes all of its output before it is read.
 */
export class StepResources {
  private readonly buffers = new Map<string, GPUBuffer>();
  private readonly uniforms = new Map<string, GPUBuffer>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;

  constructor(readonly device: GPUDevice) {}

  private id(o: object): number {
    let i = this.ids.get(o);
    if (i === undefined) this.ids.set(o, (i = this.nextId++));
    return i;
  }

  buffer(key: string, size: number, usage: number): GPUBuffer {
    let b = this.buffers.get(key);
    if (!b) this.buffers.set(key, (b = this.device.createBuffer({ size, usage, label: key })));
    return b;
  }

  uniform(data: ArrayBuffer, label: string): GPUBuffer {
    const key = Array.from(new Uint32Array(data)).join(',');
    let b = this.uniforms.get(key);
    if (!b) {
      b = this.device.createBuffer({ size: data.byteLength, usage: USAGE.UNIFORM | USAGE.COPY_DST, label: `${label}.params` });
      this.device.queue.writeBuffer(b, 0, data);
      this.uniforms.set(key, b);
    }
    return b;
  }

  bindGroup(pipeline: GPUComputePipeline, buffers: readonly (GPUBuffer | null)[], label: string): GPUBindGroup {
    const key = `${this.id(pipeline)}:${buffers.map((b) => (b ? this.id(b) : 0)).join(',')}`;
    let g = this.bindGroups.get(key);
    if (!g) {
      const entries: GPUBindGroupEntry[] = [];
      buffers.forEach((b, i) => b && entries.push({ binding: i, resource: { buffer: b } }));
      g = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries, label });
      this.bindGroups.set(key, g);
    }
    return g;
  }

  get size(): { buffers: number; uniforms: number; bindGroups: number } {
    return { buffers: this.buffers.size, uniforms: this.uniforms.size, bindGroups: this.bindGroups.size };
  }

  destroy(): void {
    for (const b of this.buffers.values()) b.destroy();
    for (const b of this.uniforms.values()) b.destroy();
    this.buffers.clear();
    this.uniforms.clear();
    this.bindGroups.clear();
  }
}

export class StepProgram {
  private readonly dispatches: Dispatch[] = [];
  private readonly owned: GPUBuffer[] = [];
  private readonly copies: { src: GPUBuffer; dst: GPUBuffer; bytes: number }[] = [];
  private readonly labelsUsed = new Map<string, number>();
  readonly stepValues: GPUBuffer;
  private readonly stepData = new Float32Array(8);
  readonly resources: StepResources;
  private readonly ownsResources: boolean;

  /** `resources`: shared with other programs (a StepCache's); absent, the program has its own. */
  constructor(
    readonly device: GPUDevice,
    resources?: StepResources,
  ) {
    this.ownsResources = !resources;
    this.resources = resources ?? new StepResources(device);
    this.stepValues = this.resources.buffer('stepValues', 32, USAGE.UNIFORM | USAGE.COPY_DST);
  }

  private own(b: GPUBuffer): GPUBuffer {
    this.owned.push(b);
    return b;
  }

  /**
   * A f32/u32 buffer of `elements` 4-byte words (zero-filled when new), shared by label and size with the
   * other programs of the same resources (a label asked for twice in one program gets two buffers).
   */
  scratch(elements: number, label: string): GPUBuffer {
    const size = Math.max(16, Math.ceil((elements * 4) / 16) * 16);
    const n = this.labelsUsed.get(label) ?? 0;
    this.labelsUsed.set(label, n + 1);
    return this.resources.buffer(`${label}${n ? `#${n}` : ''}|${size}`, size, STORAGE);
  }

  /** A host-readable buffer the replay copies `src` into after the pass (`copyAfter`); the program's own. */
  readback(bytes: number, label: string): GPUBuffer {
    return this.own(this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: USAGE.MAP_READ | USAGE.COPY_DST, label }));
  }

  /** Copy `src` into `dst` after the next replay's pass (once; `clearCopies` after the replay). */
  copyAfter(src: GPUBuffer, dst: GPUBuffer, bytes: number): void {
    this.copies.push({ src, dst, bytes: Math.ceil(bytes / 4) * 4 });
  }

  clearCopies(): void {
    this.copies.length = 0;
  }

  /**
   * Record one dispatch: `code` (entry point `main`) reads `u.<param>` and the bindings by name; their
   * declarations are generated here (params at binding 0, then `bindings` in order). Dispatches replay
   * in recording order; WebGPU orders their reads and writes.
   */
  dispatch(label: string, k: KernelCall): void {
    const params = k.params ?? [];
    const code = kernelSource(params, k.bindings, k.code);
    const pipeline = pipelineFor(this.device, code, label);
    const buffers: (GPUBuffer | null)[] = [params.length > 0 ? this.resources.uniform(paramsData(params), label) : null, ...k.bindings.map((b) => b.buffer)];
    const bindGroup = this.resources.bindGroup(pipeline, buffers, label);
    const [x = 1, y = 1, z = 1] = k.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) throw new Error(`${label}: ${x}×${y}×${z} workgroups exceed the device's ${max} per dimension`);
    this.dispatches.push({ label, pipeline, bindGroup, workgroups: [x, y, z] });
  }

  get dispatchCount(): number {
    return this.dispatches.length;
  }

  labels(): string[] {
    return this.dispatches.map((d) => d.label);
  }

  setStepValues(v: StepValues): void {
    const d = this.stepData;
    d[0] = v.lr;
    d[1] = v.beta1;
    d[2] = v.beta2;
    d[3] = v.eps;
    d[4] = v.momentum;
    d[5] = v.progress;
    // ln β in double precision, so 1 − βᵗ is computed without float32 cancellation (./update.ts).
    d[6] = Math.log(v.beta1);
    d[7] = Math.log(v.beta2);
    this.device.queue.writeBuffer(this.stepValues, 0, d);
  }

  /** Replay: every dispatch in one compute pass, then the recorded copies, in one submission. */
  run(): void {
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    let last: GPUComputePipeline | null = null;
    for (const d of this.dispatches) {
      if (d.pipeline !== last) pass.setPipeline((last = d.pipeline));
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    }
    pass.end();
    for (const c of this.copies) enc.copyBufferToBuffer(c.src, 0, c.dst, 0, c.bytes);
    this.device.queue.submit([enc.finish()]);
  }

  /**
   * Replay once with every dispatch in its own pass between GPU timestamps (device feature
   * 'timestamp-query'): GPU ms per dispatch, in order. Separate passes add a little time per dispatch,
   * so the sum is an upper bound of the replay's GPU time. Null without the feature.
   */
  async profile(): Promise<{ label: string; ms: number }[] | null> {
    if (!this.device.features.has('timestamp-query')) return null;
    const n = this.dispatches.length;
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 * n });
    const resolve = this.device.createBuffer({ size: 16 * n, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC });
    const read = this.device.createBuffer({ size: 16 * n, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    const enc = this.device.createCommandEncoder();
    this.dispatches.forEach((d, i) => {
      const pass = enc.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
      pass.end();
    });
    enc.resolveQuerySet(querySet, 0, 2 * n, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * n);
    this.device.queue.submit([enc.finish()]);
    await read.mapAsync(MAP_READ_MODE);
    const t = new BigInt64Array(read.getMappedRange().slice(0));
    read.unmap();
    [querySet, resolve, read].forEach((x) => x.destroy());
    return this.dispatches.map((d, i) => ({ label: d.label, ms: Number(t[2 * i + 1]! - t[2 * i]!) / 1e6 }));
  }

  dispose(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
    this.dispatches.length = 0;
    if (this.ownsResources) this.resources.destroy();
  }
}

/** Read `bytes` of a MAP_READ buffer (after the submission that filled it). */
export async function readFloats(buffer: GPUBuffer, count: number): Promise<Float32Array> {
  await buffer.mapAsync(MAP_READ_MODE, 0, Math.max(16, Math.ceil((count * 4) / 16) * 16));
  const out = new Float32Array(buffer.getMappedRange(0, Math.max(16, Math.ceil((count * 4) / 16) * 16)).slice(0, count * 4));
  buffer.unmap();
  return out;
}
