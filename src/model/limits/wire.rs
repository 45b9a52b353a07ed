//! What decoding an ONNX file would allocate, found by walking its protobuf wire format with
//! the schema tract decodes (`tract_onnx::pb`), without decoding it.
//!
//! Why: protobuf is compact where the decoded form is not. An empty `AttributeProto` is 3 bytes
//! in the file and over a kilobyte once decoded (it holds an optional tensor and an optional
//! graph inline), and a packed `int64` list costs 1 byte per element in the file and 8 in
//! memory; a 64 MiB file could decode to tens of gigabytes, and a failed allocation aborts the
//! process. The walk reads lengths and counts elements only: its own memory is constant (the
//! nesting depth is capped at [`MAX_NESTING`], as prost caps it).
//!
//! The estimate counts each decoded message at its in-memory size, every string and byte field
//! at its length plus a `Vec` header, every repeated scalar at its decoded width, and twice
//! everything that lands in a growing `Vec` (capacity doubling). Fields tract does not decode
//! are skipped by prost without allocating, and are not counted.

use tract_onnx::pb;

use super::LimitError;

/// Deepest message nesting walked (prost refuses deeper input too).
pub const MAX_NESTING: usize = 100;

/// The decoded message types, as tract's protobuf schema nests them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    Segment,
    SparseTensor,
    ValueInfo,
    Type,
    TypeTensor,
    Shape,
    Dim,
    OpsetId,
    StringString,
    TensorAnnotation,
    TrainingInfo,
    Function,
}

impl Ty {
    fn size(self) -> u64 {
        use std::mem::size_of;
        (match self {
            Ty::Model => size_of::<pb::ModelProto>(),
            Ty::Graph => size_of::<pb::GraphProto>(),
            Ty::Node => size_of::<pb::NodeProto>(),
            Ty::Attribute => size_of::<pb::AttributeProto>(),
            Ty::Tensor => size_of::<pb::TensorProto>(),
            Ty::Segment => size_of::<pb::tensor_proto::Segment>(),
            Ty::SparseTensor => size_of::<pb::SparseTensorProto>(),
            Ty::ValueInfo => size_of::<pb::ValueInfoProto>(),
            Ty::Type => size_of::<pb::TypeProto>(),
            Ty::TypeTensor => size_of::<pb::type_proto::Tensor>(),
            Ty::Shape => size_of::<pb::TensorShapeProto>(),
            Ty::Dim => size_of::<pb::tensor_shape_proto::Dimension>(),
            Ty::OpsetId => size_of::<pb::OperatorSetIdProto>(),
            Ty::StringString => size_of::<pb::StringStringEntryProto>(),
            Ty::TensorAnnotation => size_of::<pb::TensorAnnotation>(),
            Ty::TrainingInfo => size_of::<pb::TrainingInfoProto>(),
            Ty::Function => size_of::<pb::FunctionProto>(),
        }) as u64
    }
}

/// How a field decodes.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// A nested message; `repeated` ones land in a `Vec`.
    Msg { ty: Ty, repeated: bool },
    /// A string or bytes value; `repeated` ones are a `Vec` of them.
    Bytes { repeated: bool },
    /// A repeated number of `width` bytes in memory; `varint` when its packed form is varints.
    Numbers { width: u64, varint: bool },
    /// A single number, or a field tract does not decode.
    Skip,
}

fn field(ty: Ty, tag: u64) -> Field {
    use Field::*;
    let msg = |ty| Msg {
        ty,
        repeated: false,
    };
    let msgs = |ty| Msg { ty, repeated: true };
    let string = Bytes { repeated: false };
    let strings = Bytes { repeated: true };
    match (ty, tag) {
        (Ty::Model, 8) => msgs(Ty::OpsetId),
        (Ty::Model, 2 | 3 | 4 | 6) => string,
        (Ty::Model, 7) => msg(Ty::Graph),
        (Ty::Model, 14) => msgs(Ty::StringString),
        (Ty::Model, 20) => msgs(Ty::TrainingInfo),
        (Ty::Model, 25) => msgs(Ty::Function),
        (Ty::Graph, 1) => msgs(Ty::Node),
        (Ty::Graph, 2 | 10) => string,
        (Ty::Graph, 5) => msgs(Ty::Tensor),
        (Ty::Graph, 15) => msgs(Ty::SparseTensor),
        (Ty::Graph, 11..=13) => msgs(Ty::ValueInfo),
        (Ty::Graph, 14) => msgs(Ty::TensorAnnotation),
        (Ty::Node, 1 | 2) => strings,
        (Ty::Node, 3 | 4 | 6 | 7) => string,
        (Ty::Node, 5) => msgs(Ty::Attribute),
        (Ty::Attribute, 1 | 4 | 13 | 21) => string,
        (Ty::Attribute, 5) => msg(Ty::Tensor),
        (Ty::Attribute, 6) => msg(Ty::Graph),
        (Ty::Attribute, 22) => msg(Ty::SparseTensor),
        (Ty::Attribute, 7) => Numbers {
            width: 4,
            varint: false,
        },
        (Ty::Attribute, 8) => Numbers {
            width: 8,
            varint: true,
        },
        (Ty::Attribute, 9) => strings,
        (Ty::Attribute, 10) => msgs(Ty::Tensor),
        (Ty::Attribute, 11) => msgs(Ty::Graph),
        (Ty::Attribute, 23) => msgs(Ty::SparseTensor),
        (Ty::Attribute, 15) => msgs(Ty::Type),
        (Ty::Tensor, 1 | 7 | 11) => Numbers {
            width: 8,
            varint: true,
        },
        (Ty::Tensor, 3) => msg(Ty::Segment),
        (Ty::Tensor, 4) => Numbers {
            width: 4,
            varint: false,
        },
        (Ty::Tensor, 5) => Numbers {
            width: 4,
            varint: true,
        },
        (Ty::Tensor, 6) => strings,
        (Ty::Tensor, 8 | 9 | 12) => string,
        (Ty::Tensor, 10) => Numbers {
            width: 8,
            varint: false,
        },
        (Ty::Tensor, 13) => msgs(Ty::StringString),
        (Ty::SparseTensor, 1 | 2) => msg(Ty::Tensor),
        (Ty::SparseTensor, 3) => Numbers {
            width: 8,
            varint: true,
        },
        (Ty::ValueInfo, 1 | 3) => string,
        (Ty::ValueInfo, 2) => msg(Ty::Type),
        (Ty::Type, 6) => string,
        (Ty::Type, 1) => msg(Ty::TypeTensor),
        (Ty::TypeTensor, 2) => msg(Ty::Shape),
        (Ty::Shape, 1) => msgs(Ty::Dim),
        (Ty::Dim, 2 | 3) => string,
        (Ty::OpsetId, 1) => string,
        (Ty::StringString, 1 | 2) => string,
        (Ty::TensorAnnotation, 1) => string,
        (Ty::TensorAnnotation, 2) => msgs(Ty::StringString),
        (Ty::TrainingInfo, 1 | 2) => msg(Ty::Graph),
        (Ty::TrainingInfo, 3 | 4) => msgs(Ty::StringString),
        (Ty::Function, 1 | 8 | 10) => string,
        (Ty::Function, 4..=6) => strings,
        (Ty::Function, 7) => msgs(Ty::Node),
        (Ty::Function, 9) => msgs(Ty::OpsetId),
        _ => Skip,
    }
}

/// A `Vec` or `String` header.
const VEC: u64 = 24;

/// The bytes `tract_onnx::pb::ModelProto::decode(bytes)` would allocate, estimated from the
/// wire format. Malformed input stops the walk where it breaks: prost refuses it there too.
pub fn decoded_bytes(bytes: &[u8]) -> Result<u64, LimitError> {
    let mut total = Ty::Model.size();
    walk(bytes, Ty::Model, 0, &mut total)?;
    Ok(total)
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn take<'a>(buf: &mut &'a [u8], n: u64) -> Option<&'a [u8]> {
    let n = usize::try_from(n).ok()?;
    if n > buf.len() {
        return None;
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Some(head)
}

/// Walks one message of type `ty`, adding to `total`. Stops quietly at malformed input.
fn walk(mut buf: &[u8], ty: Ty, depth: usize, total: &mut u64) -> Result<(), LimitError> {
    if depth > MAX_NESTING {
        return Err(LimitError::Nesting { max: MAX_NESTING });
    }
    while !buf.is_empty() {
        let Some(key) = varint(&mut buf) else {
            return Ok(());
        };
        let (tag, wire) = (key >> 3, key & 7);
        let f = field(ty, tag);
        match wire {
            // varint
            0 => {
                if varint(&mut buf).is_none() {
                    return Ok(());
                }
                if let Field::Numbers { width, .. } = f {
                    *total = total.saturating_add(2 * width);
                }
            }
            // 64-bit, 32-bit
            1 | 5 => {
                if take(&mut buf, if wire == 1 { 8 } else { 4 }).is_none() {
                    return Ok(());
                }
                if let Field::Numbers { width, .. } = f {
                    *total = total.saturating_add(2 * width);
                }
            }
            // length-delimited
            2 => {
                let Some(len) = varint(&mut buf) else {
                    return Ok(());
                };
                let Some(body) = take(&mut buf, len) else {
                    return Ok(());
                };
                let add = match f {
                    Field::Msg {
                        ty: inner,
                        repeated,
                    } => {
                        walk(body, inner, depth + 1, total)?;
                        inner.size() * if repeated { 2 } else { 1 }
                    }
                    Field::Bytes { repeated: false } => len,
                    Field::Bytes { repeated: true } => 2 * VEC + len,
                    Field::Numbers { width, varint } => {
                        let n = if varint {
                            body.iter().filter(|b| *b & 0x80 == 0).count() as u64
                        } else {
                            len / width
                        };
                        2 * n * width
                    }
                    Field::Skip => 0,
                };
                *total = total.saturating_add(add);
            }
            // start group: skipped by prost, field by field, up to its end
            3 => {
                if skip_group(&mut buf, tag, depth + 1)?.is_none() {
                    return Ok(());
                }
            }
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// Skips a group up to the end-group key of `tag`; `None` on malformed input.
fn skip_group(buf: &mut &[u8], tag: u64, depth: usize) -> Result<Option<()>, LimitError> {
    if depth > MAX_NESTING {
        return Err(LimitError::Nesting { max: MAX_NESTING });
    }
    loop {
        let Some(key) = varint(buf) else {
            return Ok(None);
        };
        let ok = match key & 7 {
            0 => varint(buf).map(|_| ()),
            1 => take(buf, 8).map(|_| ()),
            5 => take(buf, 4).map(|_| ()),
            2 => varint(buf).and_then(|len| take(buf, len)).map(|_| ()),
            3 => skip_group(buf, key >> 3, depth + 1)?,
            4 => return Ok((key >> 3 == tag).then_some(())),
            _ => None,
        };
        if ok.is_none() {
            return Ok(None);
        }
    }
}
