//! Test helper: just enough of protobuf and of the ONNX schema (onnx.proto field numbers) to
//! write small models by hand, so each error and limit path has a file that triggers it.

pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
pub fn int(out: &mut Vec<u8>, field: u64, v: i64) {
    varint(out, field << 3);
    varint(out, v as u64);
}
pub fn bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}
pub fn msg(field: u64, parts: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    let mut out = Vec::new();
    bytes(&mut out, field, &body);
    out
}
pub fn string(field: u64, s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    bytes(&mut out, field, s.as_bytes());
    out
}

pub enum Dim {
    Fixed(i64),
    Param(&'static str),
}

/// ValueInfoProto `field` of a GraphProto: a tensor of ONNX element type `elem`
/// (1 float, 7 int64) and the given shape.
pub fn value_info(field: u64, name: &str, elem: i64, dims: &[Dim]) -> Vec<u8> {
    let dims: Vec<Vec<u8>> = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(v) => {
                let mut b = Vec::new();
                int(&mut b, 1, *v);
                msg(1, &[b])
            }
            Dim::Param(p) => msg(1, &[string(2, p)]),
        })
        .collect();
    let mut elem_type = Vec::new();
    int(&mut elem_type, 1, elem);
    let tensor = msg(1, &[elem_type, msg(2, &dims)]);
    msg(field, &[string(1, name), msg(2, &[tensor])])
}

pub fn node(op: &str, domain: &str, inputs: &[&str], outputs: &[&str]) -> Vec<u8> {
    node_with(op, domain, inputs, outputs, &[])
}

/// A NodeProto with INT attributes (AttributeProto: name 1, i 3, type 20 = INT 2).
pub fn node_with(
    op: &str,
    domain: &str,
    inputs: &[&str],
    outputs: &[&str],
    int_attrs: &[(&str, i64)],
) -> Vec<u8> {
    let mut parts: Vec<Vec<u8>> = inputs.iter().map(|i| string(1, i)).collect();
    parts.extend(outputs.iter().map(|o| string(2, o)));
    parts.push(string(3, &format!("{op}_node")));
    parts.push(string(4, op));
    for (name, v) in int_attrs {
        let mut a = string(1, name);
        int(&mut a, 3, *v);
        int(&mut a, 20, 2);
        parts.push(msg(5, &[a]));
    }
    parts.push(string(7, domain));
    msg(1, &parts)
}

/// TensorProto initializer (GraphProto field 5) of float32 values.
pub fn init_f32(name: &str, dims: &[i64], values: &[f32]) -> Vec<u8> {
    let mut parts = Vec::new();
    let mut d = Vec::new();
    for v in dims {
        int(&mut d, 1, *v);
    }
    parts.push(d);
    let mut dt = Vec::new();
    int(&mut dt, 2, 1);
    parts.push(dt);
    parts.push(string(8, name));
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut r = Vec::new();
    bytes(&mut r, 9, &raw);
    parts.push(r);
    msg(5, &parts)
}

/// A ModelProto (IR 8, opset 17, ai.onnx.ml 3) around the graph parts.
pub fn model(graph: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    int(&mut out, 1, 8);
    let mut v = Vec::new();
    int(&mut v, 2, 17);
    out.extend(msg(8, &[string(1, ""), v]));
    let mut v = Vec::new();
    int(&mut v, 2, 3);
    out.extend(msg(8, &[string(1, "ai.onnx.ml"), v]));
    let mut g = vec![string(2, "test")];
    g.extend_from_slice(graph);
    out.extend(msg(7, &g));
    out
}

/// An INT attribute (AttributeProto: name 1, i 3, type 20 = INT 2).
pub fn attr_int(name: &str, v: i64) -> Vec<u8> {
    let mut a = string(1, name);
    int(&mut a, 3, v);
    int(&mut a, 20, 2);
    a
}

/// An INTS attribute, packed (ints 8, type 20 = INTS 7).
pub fn attr_ints(name: &str, v: &[i64]) -> Vec<u8> {
    let mut a = string(1, name);
    let mut packed = Vec::new();
    for &x in v {
        varint(&mut packed, x as u64);
    }
    bytes(&mut a, 8, &packed);
    int(&mut a, 20, 7);
    a
}

/// A FLOATS attribute, packed (floats 7, type 20 = FLOATS 6).
pub fn attr_floats(name: &str, v: &[f32]) -> Vec<u8> {
    let mut a = string(1, name);
    let packed: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    bytes(&mut a, 7, &packed);
    int(&mut a, 20, 6);
    a
}

/// A STRINGS attribute (strings 9, type 20 = STRINGS 8).
pub fn attr_strings(name: &str, v: &[&str]) -> Vec<u8> {
    let mut a = string(1, name);
    for s in v {
        bytes(&mut a, 9, s.as_bytes());
    }
    int(&mut a, 20, 8);
    a
}

/// A NodeProto with whole AttributeProto bodies.
pub fn node_attrs(
    op: &str,
    domain: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: &[Vec<u8>],
) -> Vec<u8> {
    let mut parts: Vec<Vec<u8>> = inputs.iter().map(|i| string(1, i)).collect();
    parts.extend(outputs.iter().map(|o| string(2, o)));
    parts.push(string(3, &format!("{op}_node")));
    parts.push(string(4, op));
    for a in attrs {
        parts.push(msg(5, std::slice::from_ref(a)));
    }
    parts.push(string(7, domain));
    msg(1, &parts)
}

/// TensorProto initializer (GraphProto field 5) of int64 values, in `int64_data`.
pub fn init_i64(name: &str, dims: &[i64], values: &[i64]) -> Vec<u8> {
    let mut parts = Vec::new();
    let mut d = Vec::new();
    for v in dims {
        int(&mut d, 1, *v);
    }
    parts.push(d);
    let mut dt = Vec::new();
    int(&mut dt, 2, 7);
    parts.push(dt);
    parts.push(string(8, name));
    let mut packed = Vec::new();
    for &v in values {
        varint(&mut packed, v as u64);
    }
    let mut r = Vec::new();
    bytes(&mut r, 7, &packed);
    parts.push(r);
    msg(5, &parts)
}

/// A one-stump TreeEnsembleRegressor on feature 0 with `n_targets` outputs, as a whole model
/// taking `x` [N, 1] and giving `y`.
pub fn stump_regressor(n_targets: i64) -> Vec<u8> {
    model(&[
        node_attrs(
            "TreeEnsembleRegressor",
            "ai.onnx.ml",
            &["x"],
            &["y"],
            &[
                attr_int("n_targets", n_targets),
                attr_ints("nodes_treeids", &[0, 0, 0]),
                attr_ints("nodes_nodeids", &[0, 1, 2]),
                attr_ints("nodes_featureids", &[0, 0, 0]),
                attr_strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF"]),
                attr_floats("nodes_values", &[0.5, 0.0, 0.0]),
                attr_ints("nodes_truenodeids", &[1, 0, 0]),
                attr_ints("nodes_falsenodeids", &[2, 0, 0]),
                attr_ints("target_treeids", &[0, 0]),
                attr_ints("target_nodeids", &[1, 2]),
                attr_ints("target_ids", &[0, 0]),
                attr_floats("target_weights", &[1.0, 2.0]),
            ],
        ),
        value_info(11, "x", 1, &[Dim::Param("N"), Dim::Fixed(1)]),
        value_info(12, "y", 1, &[Dim::Param("N"), Dim::Param("T")]),
    ])
}
