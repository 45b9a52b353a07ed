use super::*;
use crate::model::testpb as pb;
use crate::model::testpb::Dim::{Fixed, Param};
use tract_onnx::prelude::Framework;

fn decode(bytes: &[u8]) -> tract_onnx::pb::ModelProto {
    let mut r = bytes;
    tract_onnx::onnx().proto_model_for_read(&mut r).unwrap()
}

fn check(bytes: &[u8]) -> Result<Usage, LimitError> {
    let decoded = check_file(bytes)?;
    check_model(&decode(bytes), decoded)
}

#[test]
fn a_small_model_passes_with_its_usage() {
    let u = check(&pb::stump_regressor(1)).unwrap();
    assert_eq!(u.nodes, 1);
    assert!(u.trees > 0 && u.decoded > 0, "{u:?}");
    assert!(u.total() < 1 << 20, "{u:?}");
}

#[test]
fn n_targets_over_the_limit_is_refused_before_tract_sees_it() {
    check(&pb::stump_regressor(MAX_TREE_OUTPUTS as i64)).unwrap();
    for n in [MAX_TREE_OUTPUTS as i64 + 1, 1 << 40, -1] {
        let e = check(&pb::stump_regressor(n)).unwrap_err();
        assert!(
            matches!(&e, LimitError::Trees { what, .. } if what.contains("outputs")),
            "{n}: {e}"
        );
    }
}

fn classifier(labels: usize) -> Vec<u8> {
    let labels: Vec<i64> = (0..labels as i64).collect();
    pb::model(&[pb::node_attrs(
        "TreeEnsembleClassifier",
        "ai.onnx.ml",
        &["x"],
        &["label", "p"],
        &[
            pb::attr_ints("classlabels_int64s", &labels),
            pb::attr_ints("nodes_treeids", &[0]),
        ],
    )])
}

#[test]
fn classes_over_the_limit_are_refused() {
    check(&classifier(MAX_TREE_OUTPUTS)).unwrap();
    let e = check(&classifier(MAX_TREE_OUTPUTS + 1)).unwrap_err();
    assert!(e.to_string().contains("4097"), "{e}");
}

fn ensemble(tree_ids: &[i64], votes: usize) -> Vec<u8> {
    pb::model(&[pb::node_attrs(
        "TreeEnsembleRegressor",
        "ai.onnx.ml",
        &["x"],
        &["y"],
        &[
            pb::attr_ints("nodes_treeids", tree_ids),
            pb::attr_ints("target_ids", &vec![0; votes]),
        ],
    )])
}

#[test]
fn tree_nodes_trees_and_votes_have_limits() {
    let e = check(&ensemble(&vec![0; MAX_TREE_NODES + 1], 0)).unwrap_err();
    assert!(
        matches!(&e, LimitError::Trees { what, .. } if what.contains("nodes")),
        "{e}"
    );
    let ids: Vec<i64> = (0..=MAX_TREES as i64).collect();
    let e = check(&ensemble(&ids, 0)).unwrap_err();
    assert!(
        matches!(&e, LimitError::Trees { what, .. } if what.contains("trees")),
        "{e}"
    );
    let e = check(&ensemble(&[0], MAX_TREE_VOTES + 1)).unwrap_err();
    assert!(
        matches!(&e, LimitError::Trees { what, .. } if what.contains("votes")),
        "{e}"
    );
    let ids: Vec<i64> = (0..MAX_TREES as i64).collect();
    check(&ensemble(&ids, 10)).unwrap();
}

#[test]
fn graph_node_count_has_a_limit() {
    let node = pb::node("Relu", "", &["x"], &["x"]);
    let nodes = vec![node; MAX_GRAPH_NODES + 1];
    let e = check(&pb::model(&nodes)).unwrap_err();
    assert_eq!(
        e,
        LimitError::Nodes {
            count: MAX_GRAPH_NODES + 1,
            max: MAX_GRAPH_NODES
        }
    );
}

#[test]
fn initializer_and_declared_shapes_are_bounded() {
    // 2^13 x 2^13 = 2^26 elements declared (no data): at the limit, accepted by this check.
    let e = check(&pb::model(&[pb::init_f32("w", &[1 << 13, 1 << 14], &[])])).unwrap_err();
    assert!(
        matches!(&e, LimitError::Tensor { what: "initializer", name, .. } if name == "w"),
        "{e}"
    );
    let e = check(&pb::model(&[pb::init_f32("w", &[-1], &[])])).unwrap_err();
    assert!(matches!(e, LimitError::NegativeDim { dim: -1, .. }), "{e}");
    let e = check(&pb::model(&[pb::value_info(
        11,
        "x",
        1,
        &[Fixed(1 << 20), Fixed(1 << 20), Param("N")],
    )]))
    .unwrap_err();
    assert!(e.to_string().contains("declared shape of `x`"), "{e}");
}

#[test]
fn tensors_built_from_constant_shapes_are_bounded() {
    let bomb = |op: &str, shape: &[i64]| {
        let inputs: &[&str] = if op == "ConstantOfShape" {
            &["s"]
        } else {
            &["x", "s"]
        };
        pb::model(&[
            pb::init_i64("s", &[shape.len() as i64], shape),
            pb::node(op, "", inputs, &["y"]),
        ])
    };
    for op in ["ConstantOfShape", "Expand", "Tile"] {
        check(&bomb(op, &[1024, 1024])).unwrap();
        let e = check(&bomb(op, &[1 << 20, 1 << 20])).unwrap_err();
        assert!(
            matches!(
                &e,
                LimitError::Tensor {
                    what: "output of",
                    ..
                }
            ),
            "{op}: {e}"
        );
    }
    let range = |limit: i64| {
        pb::model(&[
            pb::init_i64("a", &[], &[0]),
            pb::init_i64("b", &[], &[limit]),
            pb::init_i64("d", &[], &[1]),
            pb::node("Range", "", &["a", "b", "d"], &["y"]),
        ])
    };
    check(&range(1000)).unwrap();
    assert!(check(&range(1 << 40)).is_err());
}

#[test]
fn the_memory_estimate_sums_the_parts() {
    // Four 2^24-element float initializers: 4 x 64 MiB of tensors, over 256 MiB with the rest.
    let parts: Vec<Vec<u8>> = (0..4)
        .map(|i| pb::init_f32(&format!("w{i}"), &[1 << 24], &[]))
        .collect();
    let e = check(&pb::model(&parts)).unwrap_err();
    assert!(matches!(e, LimitError::Memory { .. }), "{e}");
    check(&pb::model(&parts[..3])).unwrap();
}

#[test]
fn the_wire_walk_sees_what_decoding_would_allocate() {
    // 200,000 empty attributes: 3 bytes each in the file, over a kilobyte each decoded.
    let attrs: Vec<Vec<u8>> = vec![Vec::new(); 200_000];
    let bomb = pb::model(&[pb::node_attrs("Relu", "", &["x"], &["y"], &attrs)]);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let e = check_file(&bomb).unwrap_err();
    assert!(matches!(e, LimitError::Decoded { .. }), "{e}");
    // Packed varints: 1 byte each in the file, 8 decoded.
    let ints = pb::model(&[pb::node_attrs(
        "Relu",
        "",
        &["x"],
        &["y"],
        &[pb::attr_ints("a", &vec![1; 1 << 20])],
    )]);
    let est = check_file(&ints).unwrap();
    assert!(est >= 8 << 20, "{est}");
    // Nesting deeper than prost accepts is refused, not recursed into.
    let mut deep = Vec::new();
    for _ in 0..=wire::MAX_NESTING {
        // node → attribute → graph → node ...
        deep = pb::msg(1, &[pb::msg(5, &[pb::msg(6, &[deep])])]);
    }
    let e = check_file(&pb::model(&[deep])).unwrap_err();
    assert!(matches!(e, LimitError::Nesting { .. }), "{e}");
}

#[test]
fn the_wire_walk_stops_quietly_at_garbage() {
    for garbage in [
        &b"\xff\xff\xff"[..],
        b"\x0a\xff\x01",
        b"not onnx at all",
        b"",
    ] {
        let _ = check_file(garbage).unwrap();
    }
}
