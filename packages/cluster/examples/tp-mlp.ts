/**
 * A tensor-parallel MLP (Megatron-style) on a simulated cluster, checked against the same MLP on one device:
 *
 *   y = silu(x · W1) · W2        x (tokens, hidden), W1 (hidden, ffn), W2 (ffn, hidden)
 *
 * W1 is split by columns and W2 by rows across the `tp` axis; each device computes silu(x · W1ᵢ) · W2ᵢ, a partial
 * (tokens, hidden) sum, and one all-reduce adds the partials. The activation needs no communication because each
 * device owns whole columns of the hidden layer.
 *
 *   pnpm --filter @tessera/cluster example:tp-mlp
 */
import { createRuntime, type Device } from '@tessera/device';
import { randomArray, relativeError } from '@tessera/device/testing';
import { gemm } from '@tessera/kernels';
import { type Cluster, createCluster } from '../src/index';

export interface TpMlpResult {
  topology: string;
  tp: number;
  relError: number;
  /** Modelled time of the tensor-parallel step (both GEMMs and the all-reduce), and of one device doing it alone. */
  tpMs: number;
  singleMs: number;
  allReduceUs: number;
  algorithm: string;
}

export async function runTpMlp(cluster: Cluster, dims = { tokens: 32, hidden: 64, ffn: 256 }): Promise<TpMlpResult> {
  const { tokens, hidden, ffn } = dims;
  const mesh = cluster.mesh({ tp: cluster.size });
  const tp = mesh.size;
  const x = randomArray(tokens * hidden, 1);
  const w1 = randomArray(hidden * ffn, 2, -0.2, 0.2);
  const w2 = randomArray(ffn * hidden, 3, -0.2, 0.2);

  // Shards: x replicated; W1 (hidden, ffn) split along dim 1 (columns); W2 (ffn, hidden) along dim 0 (rows).
  const xs = mesh.replicate(x, 'f32');
  const w1s = mesh.shard(w1, { shape: [hidden, ffn], dim: 1, axis: 'tp', dtype: 'f32' });
  const w2s = mesh.shard(w2, { shape: [ffn, hidden], dim: 0, axis: 'tp', dtype: 'f32' });
  const hs = mesh.alloc('f32', tokens * (ffn / tp));
  const ys = mesh.alloc('f32', tokens * hidden);
  for (const [i, d] of mesh.devices.entries()) d.fill(ys[i]!, Number.NaN);

  const t0 = Math.max(...mesh.devices.map((d) => d.defaultStream.timeMs));
  mesh.spmd(({ rank, device }) => {
    gemm(device, { a: xs[rank]!, b: w1s[rank]!, c: hs[rank]!, M: tokens, N: ffn / tp, K: hidden, activation: 'silu' }); // column-parallel
    gemm(device, { a: hs[rank]!, b: w2s[rank]!, c: ys[rank]!, M: tokens, N: hidden, K: ffn / tp }); // row-parallel
  });
  const ar = mesh.comm('tp', 0).allReduce(ys, ys); // sum the partials, in place
  const tpMs = ar.endMs - t0;

  // The same MLP on one device of the same kind, for the reference result and the single-device time.
  const single = await oneDevice(cluster.devices[0]!);
  const [a, b1, b2, h, y] = [
    single.alloc('f32', tokens * hidden),
    single.alloc('f32', hidden * ffn),
    single.alloc('f32', ffn * hidden),
    single.alloc('f32', tokens * ffn),
    single.alloc('f32', tokens * hidden),
  ];
  single.upload(a, x);
  single.upload(b1, w1);
  single.upload(b2, w2);
  const r1 = gemm(single, { a, b: b1, c: h, M: tokens, N: ffn, K: hidden, activation: 'silu' });
  const r2 = gemm(single, { a: h, b: b2, c: y, M: tokens, N: hidden, K: ffn });
  const reference = single.download(y);
  const got = mesh.devices.map((d, r) => d.download(ys[r]!));
  const relError = Math.max(...got.map((g) => relativeError(g, reference)));
  return {
    topology: cluster.spec.name,
    tp,
    relError,
    tpMs,
    singleMs: r1.ms + r2.ms,
    allReduceUs: ar.us,
    algorithm: ar.algorithm,
  };
}

async function oneDevice(like: Device): Promise<Device> {
  const rt = await createRuntime({ backend: like.backend, devices: like.properties.id });
  return rt.device(0);
}

// Run directly: the MLP on an NVIDIA and an Ascend topology.
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const topology of ['dgx-h100', 'atlas-800t-a2']) {
    const r = await runTpMlp(await createCluster({ topology }));
    console.log(
      `${r.topology}: TP=${r.tp}, ‖y_tp − y_1‖/‖y_1‖ = ${r.relError.toExponential(2)}, ` +
        `all-reduce ${r.allReduceUs.toFixed(1)} µs (${r.algorithm}), TP step ${(r.tpMs * 1000).toFixed(1)} µs vs ${(r.singleMs * 1000).toFixed(1)} µs on one device`,
    );
  }
}
