/**
 * The subset of onnx.proto (github.com/onnx/onnx/blob/main/onnx/onnx.proto, IR version 8) that a
 * feed-forward classifier needs, defined in code with protobufjs reflection so no .proto file or code
 * generator is needed at build time. Field numbers are the ones of onnx.proto; unknown fields are simply
 * not written.
 */
import protobuf from 'protobufjs';

const { Root, Type, Field, Enum, OneOf } = protobuf;

/** ONNX TensorProto.DataType values used here. */
export const OnnxDataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 } as const;

/** ONNX AttributeProto.AttributeType values. */
export const OnnxAttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

function buildRoot(): protobuf.Root {
  const root = new Root();
  const onnx = root.define('onnx');

  const dataType = new Enum('DataType', { UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9 });
  onnx.add(dataType);

  onnx.add(
    new Type('TensorProto')
      .add(new Field('dims', 1, 'int64', 'repeated'))
      .add(new Field('data_type', 2, 'int32'))
      .add(new Field('float_data', 4, 'float', 'repeated'))
      .add(new Field('int32_data', 5, 'int32', 'repeated'))
      .add(new Field('int64_data', 7, 'int64', 'repeated'))
      .add(new Field('name', 8, 'string'))
      .add(new Field('raw_data', 9, 'bytes'))
      .add(new Field('doc_string', 12, 'string')),
  );

  const attrType = new Enum('AttributeType', { UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 });
  const attribute = new Type('AttributeProto')
    .add(new Field('name', 1, 'string'))
    .add(new Field('f', 2, 'float'))
    .add(new Field('i', 3, 'int64'))
    .add(new Field('s', 4, 'bytes'))
    .add(new Field('t', 5, 'TensorProto'))
    .add(new Field('g', 6, 'GraphProto'))
    .add(new Field('floats', 7, 'float', 'repeated'))
    .add(new Field('ints', 8, 'int64', 'repeated'))
    .add(new Field('strings', 9, 'bytes', 'repeated'))
    .add(new Field('doc_string', 13, 'string'))
    .add(new Field('type', 20, 'AttributeType'));
  attribute.add(attrType);
  onnx.add(attribute);

  onnx.add(
    new Type('NodeProto')
      .add(new Field('input', 1, 'string', 'repeated'))
      .add(new Field('output', 2, 'string', 'repeated'))
      .add(new Field('name', 3, 'string'))
      .add(new Field('op_type', 4, 'string'))
      .add(new Field('attribute', 5, 'AttributeProto', 'repeated'))
      .add(new Field('doc_string', 6, 'string'))
      .add(new Field('domain', 7, 'string')),
  );

  const dimension = new Type('Dimension')
    .add(new Field('dim_value', 1, 'int64'))
    .add(new Field('dim_param', 2, 'string'))
    .add(new Field('denotation', 3, 'string'));
  dimension.add(new OneOf('value', ['dim_value', 'dim_param']));
  const shape = new Type('TensorShapeProto').add(new Field('dim', 1, 'Dimension', 'repeated'));
  shape.add(dimension);
  onnx.add(shape);

  const tensorType = new Type('Tensor').add(new Field('elem_type', 1, 'int32')).add(new Field('shape', 2, 'TensorShapeProto'));
  const typeProto = new Type('TypeProto').add(new Field('tensor_type', 1, 'Tensor')).add(new Field('denotation', 6, 'string'));
  typeProto.add(tensorType);
  typeProto.add(new OneOf('value', ['tensor_type']));
  onnx.add(typeProto);

  onnx.add(
    new Type('ValueInfoProto')
      .add(new Field('name', 1, 'string'))
      .add(new Field('type', 2, 'TypeProto'))
      .add(new Field('doc_string', 3, 'string')),
  );

  onnx.add(
    new Type('GraphProto')
      .add(new Field('node', 1, 'NodeProto', 'repeated'))
      .add(new Field('name', 2, 'string'))
      .add(new Field('initializer', 5, 'TensorProto', 'repeated'))
      .add(new Field('doc_string', 10, 'string'))
      .add(new Field('input', 11, 'ValueInfoProto', 'repeated'))
      .add(new Field('output', 12, 'ValueInfoProto', 'repeated'))
      .add(new Field('value_info', 13, 'ValueInfoProto', 'repeated')),
  );

  onnx.add(new Type('OperatorSetIdProto').add(new Field('domain', 1, 'string')).add(new Field('version', 2, 'int64')));
  onnx.add(new Type('StringStringEntryProto').add(new Field('key', 1, 'string')).add(new Field('value', 2, 'string')));

  onnx.add(
    new Type('ModelProto')
      .add(new Field('ir_version', 1, 'int64'))
      .add(new Field('producer_name', 2, 'string'))
      .add(new Field('producer_version', 3, 'string'))
      .add(new Field('domain', 4, 'string'))
      .add(new Field('model_version', 5, 'int64'))
      .add(new Field('doc_string', 6, 'string'))
      .add(new Field('graph', 7, 'GraphProto'))
      .add(new Field('opset_import', 8, 'OperatorSetIdProto', 'repeated'))
      .add(new Field('metadata_props', 14, 'StringStringEntryProto', 'repeated')),
  );
  root.resolveAll();
  return root;
}

let cached: protobuf.Root | null = null;
function root(): protobuf.Root {
  return (cached ??= buildRoot());
}

export function modelProtoType(): protobuf.Type {
  return root().lookupType('onnx.ModelProto');
}

// ---------------------------------------------------------------------------------------------------
// Plain-object shapes of the messages (what the graph builder produces).

export interface OnnxTensor {
  name: string;
  dims: number[];
  data_type: number;
  raw_data?: Uint8Array;
  int64_data?: number[];
}

export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  floats?: number[];
  ints?: number[];
}

export interface OnnxNode {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: OnnxAttribute[];
}

export interface OnnxValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: ({ dim_value: number } | { dim_param: string })[] } } };
}

export interface OnnxModel {
  ir_version: number;
  producer_name: string;
  producer_version: string;
  doc_string?: string;
  opset_import: { domain: string; version: number }[];
  graph: {
    name: string;
    node: OnnxNode[];
    initializer: OnnxTensor[];
    input: OnnxValueInfo[];
    output: OnnxValueInfo[];
  };
  metadata_props?: { key: string; value: string }[];
}

/** Serialise a model to ModelProto bytes. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const type = modelProtoType();
  const err = type.verify(model);
  if (err) throw new Error(`invalid ONNX model: ${err}`);
  return type.encode(type.fromObject(model)).finish();
}

/** Parse ModelProto bytes back to a plain object (tests, inspection). */
export function decodeOnnxModel(bytes: Uint8Array): Record<string, unknown> {
  const type = modelProtoType();
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}
