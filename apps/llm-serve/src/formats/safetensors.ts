/**
 * safetensors: u64 little-endian header length N, N bytes of JSON `{"__metadata__": {…}, name: {dtype, shape,
 * data_offsets: [begin, end)}}`, then the data section (offsets relative to its start), row-major little-endian.
 *
 * The reader validates the whole header against the file size before it allocates or reads any tensor data, so a
 * corrupt or hostile file costs one small read, and it reads only the byte ranges of the tensors asked for.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostTensor, WeightDType } from '@tessera/serve';
import {
  assertTensorConsistent,
  fmtShape,
  formatError,
  RandomAccessFile,
  readTensor,
  tensorBytes,
  withFile,
} from './binary';

/** The reference implementation's cap on the header (100 MB): larger claims are corrupt or hostile. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of every dtype the format defines (so sizes can be checked even for dtypes we refuse). */
const ST_DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

const SUPPORTED: Record<string, WeightDType> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };
const TO_ST: Record<WeightDType, string> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };

/** One validated header entry. `begin`/`end` are relative to the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  /** Absolute offset of the data section (8 + header length). */
  dataStart: number;
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
}

export interface SafetensorsContents {
  /** Tensors by their names in the file(s). */
  tensors: Map<string, HostTensor>;
  /** The file each tensor came from (one file, or the shards of a sharded checkpoint). */
  fileOf: Map<string, string>;
  /** `__metadata__` of the (first) file. */
  metadata: Record<string, string>;
}

export interface ReadSafetensorsOptions {
  /** Only tensors for which this returns true are read (and need a supported dtype); the rest are only validated. */
  select?: (name: string) => boolean;
}

/** A ModelFormatError for the tensor's entry (field = the tensor name) or the header. */
function fail(file: string, message: string, tensor?: string, limit?: string): never {
  throw formatError(file, tensor ?? 'header', message, {
    ...(tensor === undefined ? {} : { tensor }),
    ...(limit === undefined ? {} : { limit }),
  });
}

/** Reads and validates a single file's header (one 8-byte read plus one read of the header). */
export function readSafetensorsHeader(f: RandomAccessFile): SafetensorsHeader {
  const file = f.path;
  if (f.size < 8) fail(file, `file is ${f.size} bytes, too short for a safetensors header (truncated?).`);
  const n = f.read(0, 8).readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    fail(
      file,
      `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit.`,
      undefined,
      `${MAX_HEADER_BYTES} bytes`,
    );
  }
  if (n > BigInt(f.size - 8)) {
    fail(
      file,
      `header length ${n} is larger than the ${f.size - 8} bytes after the length field (truncated?).`,
      undefined,
      `${f.size - 8} bytes`,
    );
  }
  const headerLen = Number(n);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(f.read(8, headerLen)));
  } catch (e) {
    fail(file, `header is not valid UTF-8 JSON (${(e as Error).message}).`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, 'header is not a JSON object.');
  const dataStart = 8 + headerLen;
  const dataSize = f.size - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(file, '__metadata__ is not an object.');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) if (typeof v === 'string') metadata[k] = v;
      continue;
    }
    entries.push(validateEntry(file, name, raw, dataSize));
  }
  // Tensors may not share bytes: sort by start and check each begins at or after the previous one ends.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.begin < prev.end) {
      fail(file, `tensor ${cur.name} (bytes ${cur.begin}–${cur.end}) overlaps tensor ${prev.name}.`, cur.name);
    }
  }
  return { file, dataStart, entries, metadata };
}

function validateEntry(file: string, name: string, raw: unknown, dataSize: number): SafetensorsEntry {
  if (typeof raw !== 'object' || raw === null) fail(file, `tensor ${name}: header entry is not an object.`, name);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string' || !Object.hasOwn(ST_DTYPE_BYTES, dtype)) {
    fail(file, `tensor ${name}: unknown dtype ${JSON.stringify(dtype)}.`, name);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(file, `tensor ${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers.`, name);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    fail(file, `tensor ${name}: data_offsets ${JSON.stringify(offsets)} are not [begin, end] with begin ≤ end.`, name);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataSize) {
    fail(
      file,
      `tensor ${name}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes; truncated?).`,
      name,
    );
  }
  let elements = 1;
  for (const d of shape as number[]) elements *= d;
  const want = elements * ST_DTYPE_BYTES[dtype]!;
  if (!Number.isSafeInteger(want) || want !== end - begin) {
    fail(
      file,
      `tensor ${name}: shape ${fmtShape(shape as number[])} of ${dtype} needs ${want} bytes, but data_offsets ` +
        `span ${end - begin}.`,
      name,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Reads the selected tensors of one already-validated file. */
function readEntries(
  f: RandomAccessFile,
  header: SafetensorsHeader,
  select: (name: string) => boolean,
  out: SafetensorsContents,
) {
  for (const e of header.entries) {
    if (!select(e.name)) continue;
    const dtype = Object.hasOwn(SUPPORTED, e.dtype) ? SUPPORTED[e.dtype] : undefined;
    if (!dtype) {
      fail(f.path, `tensor ${e.name} has dtype ${e.dtype}; only F32, F16 and BF16 are supported.`, e.name);
    }
    if (out.tensors.has(e.name)) fail(f.path, `tensor ${e.name} appears in more than one shard.`, e.name);
    out.tensors.set(e.name, readTensor(f, header.dataStart + e.begin, dtype, e.shape));
    out.fileOf.set(e.name, f.path);
  }
}

/**
 * Reads a `.safetensors` file, or a sharded checkpoint given its `*.safetensors.index.json` (whose `weight_map` names
 * the shard of every tensor). All headers are validated before any tensor data is read.
 */
export function readSafetensors(file: string, options: ReadSafetensorsOptions = {}): SafetensorsContents {
  const select = options.select ?? (() => true);
  const out: SafetensorsContents = { tensors: new Map(), fileOf: new Map(), metadata: {} };
  if (!file.endsWith('.index.json')) {
    withFile(file, (f) => {
      const header = readSafetensorsHeader(f);
      out.metadata = header.metadata;
      readEntries(f, header, select, out);
    });
    return out;
  }
  const shards = readShardIndex(file);
  const dir = path.dirname(file);
  const opened: Array<{ f: RandomAccessFile; header: SafetensorsHeader; names: Set<string> }> = [];
  try {
    for (const [shard, names] of shards) {
      const f = new RandomAccessFile(path.join(dir, shard));
      const header = readSafetensorsHeader(f);
      opened.push({ f, header, names });
      const present = new Set(header.entries.map((e) => e.name));
      for (const n of names) {
        if (!present.has(n)) fail(f.path, `tensor ${n} is listed for this shard in ${file} but is not in it.`, n);
      }
    }
    out.metadata = opened[0]?.header.metadata ?? {};
    // Only tensors the index assigns to a shard are read from it, so a stray copy elsewhere cannot shadow one.
    for (const { f, header, names } of opened) readEntries(f, header, (n) => names.has(n) && select(n), out);
  } finally {
    for (const { f } of opened) f.close();
  }
  return out;
}

/** Parses `model.safetensors.index.json` into shard file → tensor names. */
function readShardIndex(file: string): Map<string, Set<string>> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    fail(file, `cannot read the shard index (${(e as Error).message}).`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) fail(file, 'has no "weight_map" object.');
  const shards = new Map<string, Set<string>>();
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    // Shards live beside the index: a bare file name, never a path that could point elsewhere.
    if (typeof shard !== 'string' || shard !== path.basename(shard) || shard === '..' || shard === '.') {
      fail(file, `weight_map entry for ${name} is not a shard file name: ${JSON.stringify(shard)}.`, name);
    }
    let set = shards.get(shard);
    if (!set) shards.set(shard, (set = new Set()));
    set.add(name);
  }
  if (shards.size === 0) fail(file, 'weight_map is empty.');
  return shards;
}

/**
 * Serialises tensors (in the map's order, contiguous) as a safetensors file. The header is padded with spaces to a
 * multiple of 8 bytes, as the reference implementation does, so the data section starts 8-byte aligned.
 */
export function writeSafetensors(tensors: Map<string, HostTensor>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new Error('writeSafetensors: "__metadata__" cannot be a tensor name.');
    assertTensorConsistent(name, t);
    header[name] = { dtype: TO_ST[t.dtype], shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded + offset);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let pos = 8 + padded;
  for (const t of tensors.values()) {
    out.set(tensorBytes(t), pos);
    pos += t.data.byteLength;
  }
  return out;
}
