/**
 * A minimal ONNX model writer, enough to hand onnxruntime-node a one-graph model as bytes (there is no `onnx` Python
 * package here). Only the fields the bench needs are written; field numbers are those of onnx/onnx.proto.
 *
 * Protobuf wire format: each field is a key varint (field_number << 3 | wire_type) and a value; wire type 0 is a
 * varint (int32/int64/enum), 2 is length-delimited (string, bytes, embedded message, packed repeated), 5 is fixed32.
 */

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7, BOOL: 9 } as const;

/** AttributeProto.AttributeType values used here. */
const AttrType = { FLOAT: 1, INT: 2, INTS: 7 } as const;

/** Appends protobuf fields to a growing byte list. */
class Writer {
  private readonly bytes: number[] = [];

  /** Unsigned varint; negative int64 values are written as their 64-bit two's complement (10 bytes). */
  private varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }

  private key(field: number, wireType: 0 | 2 | 5): void {
    this.varint((field << 3) | wireType);
  }

  int(field: number, value: number): this {
    this.key(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.bytes.push(...b);
    return this;
  }

  bytesField(field: number, data: Uint8Array): this {
    this.key(field, 2);
    this.varint(data.length);
    for (let i = 0; i < data.length; i++) this.bytes.push(data[i]!);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }

  message(field: number, m: Writer): this {
    return this.bytesField(field, m.finish());
  }

  /** Packed repeated int64 (proto3 default for repeated scalars). */
  packedInts(field: number, values: readonly number[]): this {
    const w = new Writer();
    for (const v of values) w.varint(v);
    return this.bytesField(field, w.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export type Attribute = number | { float: number } | { ints: readonly number[] };

export interface NodeSpec {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  /** Integers are written as INT, `{ float }` as FLOAT, `{ ints }` as INTS. */
  attrs?: Record<string, Attribute>;
  /** Operator domain ('' = ai.onnx, 'com.microsoft' = ORT contrib ops). */
  domain?: string;
}

export interface ValueSpec {
  name: string;
  /** TensorProto.DataType, default FLOAT. */
  type?: number;
  dims: readonly number[];
}

export interface TensorSpec {
  name: string;
  dims: readonly number[];
  /** FLOAT (Float32Array) or INT64 (BigInt64Array) data, stored as raw_data (little-endian, as the host is). */
  data: Float32Array | BigInt64Array;
}

export interface ModelSpec {
  nodes: readonly NodeSpec[];
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
  initializers?: readonly TensorSpec[];
  /** ai.onnx opset version. */
  opset: number;
  /** ModelProto.ir_version (IR 10 ↔ opset 21-22 era, IR 11 ↔ opset 23). */
  irVersion: number;
  /** Extra opset imports, e.g. { domain: 'com.microsoft', version: 1 }. */
  extraOpsets?: readonly { domain: string; version: number }[];
}

/** AttributeProto: name = 1, f = 2, i = 3, ints = 8, type = 20. */
function attribute(name: string, a: Attribute): Writer {
  const w = new Writer().string(1, name);
  if (typeof a === 'number') return w.int(3, a).int(20, AttrType.INT);
  if ('float' in a) return w.float(2, a.float).int(20, AttrType.FLOAT);
  return w.packedInts(8, a.ints).int(20, AttrType.INTS);
}

/** NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7. */
function node(n: NodeSpec, index: number): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.op}_${index}`).string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attribute(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

/**
 * ValueInfoProto: name = 1, type = 2 (TypeProto). TypeProto: tensor_type = 1 (TypeProto.Tensor: elem_type = 1,
 * shape = 2). TensorShapeProto: dim = 1 (Dimension: dim_value = 1).
 */
function valueInfo(v: ValueSpec): Writer {
  const shape = new Writer();
  for (const d of v.dims) shape.message(1, new Writer().int(1, d));
  const tensorType = new Writer().int(1, v.type ?? DataType.FLOAT).message(2, shape);
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensorType));
}

/** TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9. */
function tensor(t: TensorSpec): Writer {
  const type = t.data instanceof Float32Array ? DataType.FLOAT : DataType.INT64;
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return new Writer().packedInts(1, t.dims).int(2, type).string(8, t.name).bytesField(9, raw);
}

/** Serialises a ModelProto holding one graph. */
export function encodeModel(m: ModelSpec): Uint8Array {
  // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
  const graph = new Writer();
  for (const [i, n] of m.nodes.entries()) graph.message(1, node(n, i));
  graph.string(2, 'bench');
  for (const t of m.initializers ?? []) graph.message(5, tensor(t));
  for (const v of m.inputs) graph.message(11, valueInfo(v));
  for (const v of m.outputs) graph.message(12, valueInfo(v));
  // ModelProto: ir_version = 1, producer_name = 2, graph = 7, opset_import = 8 (OperatorSetIdProto: domain = 1,
  // version = 2).
  const model = new Writer().int(1, m.irVersion).string(2, 'tessera-bench').message(7, graph);
  model.message(8, new Writer().string(1, '').int(2, m.opset));
  for (const o of m.extraOpsets ?? []) model.message(8, new Writer().string(1, o.domain).int(2, o.version));
  return model.finish();
}
