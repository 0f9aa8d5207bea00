/**
 * Device meshes with named axes (PyTorch's DeviceMesh, JAX's Mesh): `{ dp: 2, tp: 8 }` arranges 16 ranks as a 2 × 8
 * grid, last axis fastest. A mesh launches one kernel on every device (SPMD), gives the communicator of any axis, and
 * shards, replicates and gathers host arrays along axes (what `shard_map` needs).
 */
import {
  type Device,
  type DeviceBuffer,
  type DType,
  type Kernel,
  type LaunchConfig,
  type LaunchResult,
  TesseraError,
} from '@tessera/device';
import type { Cluster } from './cluster';
import type { Communicator } from './communicator';

export type Coords = Record<string, number>;

export interface SpmdContext {
  /** Rank in the cluster. */
  rank: number;
  coords: Coords;
  device: Device;
}

export class DeviceMesh {
  readonly axes: readonly string[];
  readonly shape: readonly number[];
  readonly size: number;
  private readonly comms = new Map<string, Communicator[]>();

  constructor(
    private readonly cluster: Cluster,
    axes: Record<string, number>,
  ) {
    this.axes = Object.keys(axes);
    this.shape = Object.values(axes);
    if (this.axes.length === 0) throw new TesseraError('InvalidValue', 'mesh: give at least one axis, e.g. { tp: 8 }.');
    for (const [a, s] of Object.entries(axes)) {
      if (!Number.isInteger(s) || s < 1)
        throw new TesseraError('InvalidValue', `mesh: axis '${a}' has size ${s}; sizes are integers ≥ 1.`);
    }
    this.size = this.shape.reduce((x, y) => x * y, 1);
    if (this.size > cluster.size) {
      throw new TesseraError(
        'InvalidValue',
        `mesh ${JSON.stringify(axes)} needs ${this.size} devices; the cluster has ${cluster.size}.`,
      );
    }
  }

  private axisIndex(axis: string): number {
    const i = this.axes.indexOf(axis);
    if (i < 0)
      throw new TesseraError('InvalidValue', `mesh has no axis '${axis}'; its axes are ${this.axes.join(', ')}.`);
    return i;
  }

  /** Coordinates of mesh rank `rank` (= cluster rank). */
  coords(rank: number): Coords {
    const c: Coords = {};
    let rest = rank;
    for (let i = this.axes.length - 1; i >= 0; i--) {
      c[this.axes[i]!] = rest % this.shape[i]!;
      rest = Math.floor(rest / this.shape[i]!);
    }
    return c;
  }

  rankOf(coords: Coords): number {
    let r = 0;
    for (let i = 0; i < this.axes.length; i++) {
      const v = coords[this.axes[i]!] ?? 0;
      if (!Number.isInteger(v) || v < 0 || v >= this.shape[i]!)
        throw new TesseraError(
          'InvalidValue',
          `mesh: coordinate ${this.axes[i]} = ${v} is outside 0..${this.shape[i]! - 1}.`,
        );
      r = r * this.shape[i]! + v;
    }
    return r;
  }

  get devices(): Device[] {
    return Array.from({ length: this.size }, (_, r) => this.cluster.devices[r]!);
  }

  /** The communicator along `axis` that rank `rank` belongs to (ranks sharing every other coordinate). */
  comm(axis: string, rank: number): Communicator {
    const list = this.axisComms(axis);
    const c = this.coords(rank);
    const ai = this.axisIndex(axis);
    let g = 0;
    for (let i = 0; i < this.axes.length; i++) if (i !== ai) g = g * this.shape[i]! + c[this.axes[i]!]!;
    return list[g]!;
  }

  /** Every communicator along `axis`, one per group. */
  axisComms(axis: string): Communicator[] {
    let list = this.comms.get(axis);
    if (!list) {
      const ai = this.axisIndex(axis);
      const groups = new Map<string, number[]>();
      for (let r = 0; r < this.size; r++) {
        const c = this.coords(r);
        const key = this.axes.map((a, i) => (i === ai ? '*' : c[a])).join(',');
        let g = groups.get(key);
        if (!g) groups.set(key, (g = []));
        g.push(r);
      }
      list = [...groups.values()].map((ranks) => this.cluster.communicator(ranks));
      this.comms.set(axis, list);
    }
    return list;
  }

  /** SPMD launch: the same kernel on every device of the mesh, with per-device config and arguments. */
  launch(
    kernel: Kernel,
    config: LaunchConfig | ((ctx: SpmdContext) => LaunchConfig),
    args: (ctx: SpmdContext) => Record<string, unknown>,
  ): LaunchResult[] {
    return Array.from({ length: this.size }, (_, rank) => {
      const ctx = { rank, coords: this.coords(rank), device: this.cluster.devices[rank]! };
      return ctx.device.launch(kernel, typeof config === 'function' ? config(ctx) : config, args(ctx));
    });
  }

  /** Runs `fn` on every device of the mesh (SPMD host code: library calls, allocations). */
  spmd<T>(fn: (ctx: SpmdContext) => T): T[] {
    return Array.from({ length: this.size }, (_, rank) =>
      fn({ rank, coords: this.coords(rank), device: this.cluster.devices[rank]! }),
    );
  }

  /** Allocates `count` elements of `dtype` on every device. */
  alloc(dtype: DType, count: number): DeviceBuffer[] {
    return this.devices.map((d) => d.alloc(dtype, count));
  }

  /** The same host array on every device. */
  replicate(values: ArrayLike<number>, dtype: DType): DeviceBuffer[] {
    return this.devices.map((d) => {
      const b = d.alloc(dtype, values.length);
      d.upload(b, values);
      return b;
    });
  }

  /**
   * Splits a row-major host tensor of `shape` along dimension `dim` into as many equal parts as `axis` has, giving each
   * device the part of its coordinate on `axis` (replicated along the other axes).
   */
  shard(
    values: ArrayLike<number>,
    o: { shape: readonly number[]; dim: number; axis: string; dtype: DType },
  ): DeviceBuffer[] {
    const parts = this.shape[this.axisIndex(o.axis)]!;
    const { outer, inner, len } = this.layout(o.shape, o.dim, values.length, 'shard');
    if (len % parts !== 0)
      throw new TesseraError(
        'InvalidValue',
        `shard: dimension ${o.dim} (${len}) does not split into ${parts} equal parts along '${o.axis}'.`,
      );
    const piece = len / parts;
    return this.devices.map((d, rank) => {
      const p = this.coords(rank)[o.axis]!;
      const out = new Float64Array(outer * piece * inner);
      for (let a = 0; a < outer; a++) {
        for (let i = 0; i < piece; i++) {
          for (let b = 0; b < inner; b++)
            out[(a * piece + i) * inner + b] = values[(a * len + p * piece + i) * inner + b]!;
        }
      }
      const buf = d.alloc(o.dtype, out.length);
      d.upload(buf, out);
      return buf;
    });
  }

  /** The inverse of `shard`: reassembles the full tensor from the parts along `axis` (other axes at coordinate 0). */
  gather(bufs: readonly DeviceBuffer[], o: { shape: readonly number[]; dim: number; axis: string }): Float64Array {
    const ai = this.axisIndex(o.axis);
    const parts = this.shape[ai]!;
    const total = o.shape.reduce((x, y) => x * y, 1);
    const { outer, inner, len } = this.layout(o.shape, o.dim, total, 'gather');
    const piece = len / parts;
    const out = new Float64Array(total);
    for (let p = 0; p < parts; p++) {
      const rank = this.rankOf({ [o.axis]: p });
      const v = this.cluster.devices[rank]!.download(bufs[rank]!);
      for (let a = 0; a < outer; a++) {
        for (let i = 0; i < piece; i++) {
          for (let b = 0; b < inner; b++) out[(a * len + p * piece + i) * inner + b] = v[(a * piece + i) * inner + b]!;
        }
      }
    }
    return out;
  }

  private layout(shape: readonly number[], dim: number, n: number, what: string) {
    const total = shape.reduce((x, y) => x * y, 1);
    if (total !== n)
      throw new TesseraError(
        'InvalidValue',
        `${what}: shape [${shape.join(', ')}] holds ${total} elements, the data ${n}.`,
      );
    if (!Number.isInteger(dim) || dim < 0 || dim >= shape.length)
      throw new TesseraError('InvalidValue', `${what}: dim ${dim} is not an axis of [${shape.join(', ')}].`);
    return {
      outer: shape.slice(0, dim).reduce((x, y) => x * y, 1),
      inner: shape.slice(dim + 1).reduce((x, y) => x * y, 1),
      len: shape[dim]!,
    };
  }
}
