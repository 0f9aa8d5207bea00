/**
 * Where the runtime tells an observer (the sanitizer's initcheck, packages/device/docs/sanitizer.md) that device
 * memory was allocated or written from the host side: uploads, copies, memsets, fills — and, through `noteDeviceWrite`
 * and `noteDeviceCopy`, runtime extensions that write device memory themselves (collectives in `@tessera/cluster`).
 * Kernel writes are seen by the instrumented launch itself. Nothing is observed unless a sanitizer is enabled.
 */
import type { Allocation, DeviceBuffer } from '../memory/buffer';

export interface MemoryEvents {
  allocated(a: Allocation): void;
  /** Bytes [start, start + n) of `a` were written. */
  written(a: Allocation, start: number, n: number): void;
  /** `n` bytes were copied from `src` at `srcStart` to `dst` at `dstStart`. */
  copied(dst: Allocation, dstStart: number, src: Allocation, srcStart: number, n: number): void;
}

/** The observer, while one is installed. */
export const memoryEvents: { current: MemoryEvents | null } = { current: null };

/**
 * For runtime extensions that write device memory directly (`buffer.storage()`): elements [offset, offset + count)
 * of `buffer` now hold written values.
 */
export function noteDeviceWrite(buffer: DeviceBuffer, offset = 0, count = buffer.length - offset): void {
  const m = memoryEvents.current;
  if (!m) return;
  const eb = buffer.byteLength / Math.max(1, buffer.length) || 1;
  m.written(buffer.allocation, buffer.byteOffset + offset * eb, count * eb);
}

/** For runtime extensions that copy device memory directly: `bytes` from the start of `src` to the start of `dst`. */
export function noteDeviceCopy(dst: DeviceBuffer, src: DeviceBuffer, bytes: number): void {
  memoryEvents.current?.copied(dst.allocation, dst.byteOffset, src.allocation, src.byteOffset, bytes);
}
