/**
 * `tessera coll-perf`'s `#wrong` column: the collective run for real on a functional cluster, out-of-place then
 * in-place with nccl-tests' buffer layouts, on small random integers (exact in every dtype, partial sums included),
 * and compared element by element with a host reference; and `runCollective`, the one nccl-tests-style call both the
 * sweep and the dashboard's collective view make.
 */
import type { Algorithm, CollectiveOp, Communicator } from '@tessera/cluster';
import { castScalar, type DeviceBuffer, DTYPE_INFO, type DType } from '@tessera/device';
import { rng } from '@tessera/device/random';

/** Largest integer magnitude every value and every partial sum must stay within to be exact in `dtype`. */
const EXACT_LIMIT: Record<DType, number> = {
  f32: 2 ** 24,
  f16: 2 ** 11,
  bf16: 2 ** 8,
  fp8e4m3: 16,
  fp8e5m2: 8,
  i32: 2 ** 31 - 1,
  i16: 32767,
  i8: 127,
  u8: 254,
};

/** Poison for outputs: a value no correct result can take. */
const poisonOf = (dtype: DType) =>
  DTYPE_INFO[dtype].kind === 'float' ? Number.NaN : dtype === 'u8' ? 255 : DTYPE_INFO[dtype].min;

/**
 * Runs `op` for real on the functional cluster, out-of-place then in-place, with nccl-tests' buffer layouts, and
 * counts output elements that differ from the host reference. Returns [out-of-place, in-place].
 */
export function functionalCheck(
  comm: Communicator,
  op: CollectiveOp,
  count: number,
  dtype: DType,
  algorithm: Algorithm | undefined,
  seed: number,
): [number, number] {
  const n = comm.size;
  const devs = Array.from({ length: n }, (_, r) => comm.device(r));
  if (count === 0) return [0, 0];
  const amp = Math.max(1, Math.min(8, Math.floor(EXACT_LIMIT[dtype] / n)));
  const lo = dtype === 'u8' ? 0 : -amp;
  const inLen = op === 'reducescatter' || op === 'alltoall' ? count * n : count;
  const outLen = op === 'allgather' || op === 'alltoall' ? count * n : count;
  const inputs = devs.map((_, r) => {
    const next = rng(seed * 7919 + r * 104729 + 1);
    return Float64Array.from({ length: inLen }, () => lo + Math.floor(next() * (amp - lo + 1)));
  });
  const sum = (i: number) => {
    let s = 0;
    for (const v of inputs) s += v[i]!;
    return castScalar(s, dtype);
  };
  // The expected output of rank r at element i, or undefined where nccl-tests does not check (reduce: non-roots).
  const expected = (r: number, i: number): number | undefined => {
    switch (op) {
      case 'allreduce':
        return sum(i);
      case 'reduce':
        return r === 0 ? sum(i) : undefined;
      case 'broadcast':
        return inputs[0]![i]!;
      case 'allgather':
        return inputs[Math.floor(i / count)]![i % count]!;
      case 'reducescatter':
        return sum(r * count + i);
      case 'alltoall':
        return inputs[Math.floor(i / count)]![r * count + (i % count)]!;
      case 'sendrecv':
        return inputs[(r - 1 + n) % n]![i]!; // rank r receives what rank r − 1 sent
    }
  };
  const poison = poisonOf(dtype);
  const check = (outs: DeviceBuffer[]) => {
    let wrong = 0;
    outs.forEach((b, r) => {
      const got = devs[r]!.download(b);
      for (let i = 0; i < outLen; i++) {
        const want = expected(r, i);
        if (want !== undefined && got[i] !== want) wrong++;
      }
    });
    return wrong;
  };
  const alloced: Array<[number, DeviceBuffer]> = [];
  const alloc = (r: number, len: number) => {
    const b = devs[r]!.alloc(dtype, len);
    alloced.push([r, b]);
    return b;
  };
  const call = (send: DeviceBuffer[], recv: DeviceBuffer[]) => runCollective(comm, op, send, recv, count, algorithm);
  try {
    // Out-of-place: inputs in send buffers, poisoned receive buffers.
    const send = devs.map((d, r) => {
      const b = alloc(r, inLen);
      d.upload(b, inputs[r]!);
      return b;
    });
    const recv = devs.map((d, r) => {
      const b = alloc(r, outLen);
      d.fill(b, poison);
      return b;
    });
    if (op === 'broadcast') devs[0]!.upload(recv[0]!, inputs[0]!); // the library's broadcast works in place
    call(send, recv);
    const oop = check(recv);

    // In-place, with nccl-tests' offsets: all-gather sends from its own slot of the output, reduce-scatter receives
    // into its own slot of the input, the others use one buffer.
    let ipSend: DeviceBuffer[];
    let ipRecv: DeviceBuffer[];
    if (op === 'allgather') {
      ipRecv = devs.map((d, r) => {
        const b = alloc(r, outLen);
        d.fill(b, poison);
        d.upload(b, inputs[r]!, { offset: r * count });
        return b;
      });
      ipSend = ipRecv.map((b, r) => b.view(r * count, count));
    } else {
      ipSend = devs.map((d, r) => {
        const b = alloc(r, inLen);
        d.upload(b, inputs[r]!);
        return b;
      });
      ipRecv = op === 'reducescatter' ? ipSend.map((b, r) => b.view(r * count, count)) : ipSend;
    }
    call(ipSend, ipRecv);
    const inPlace = check(ipRecv);
    return [oop, inPlace];
  } finally {
    for (const [r, b] of alloced) devs[r]!.free(b);
  }
}

/** One collective call, nccl-tests' way: sums, root 0 (also the dashboard's /api/cluster/collective). */
export function runCollective(
  comm: Communicator,
  op: CollectiveOp,
  send: DeviceBuffer[],
  recv: DeviceBuffer[],
  count: number,
  algorithm: Algorithm | undefined,
) {
  const o = { count, algorithm };
  switch (op) {
    case 'allreduce':
      return comm.allReduce(send, recv, { ...o, op: 'sum' });
    case 'allgather':
      return comm.allGather(send, recv, o);
    case 'reducescatter':
      return comm.reduceScatter(send, recv, { ...o, op: 'sum' });
    case 'alltoall':
      return comm.allToAll(send, recv, o);
    case 'broadcast':
      return comm.broadcast(recv, { ...o, root: 0 });
    case 'reduce':
      return comm.reduce(send, recv, { ...o, op: 'sum', root: 0 });
    case 'sendrecv':
      return comm.sendRecv(send, recv, o);
  }
}
