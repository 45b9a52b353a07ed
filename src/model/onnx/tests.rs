use super::*;

use crate::model::testpb as pb;
use pb::Dim::{Fixed, Param};

/// y = x * w + b, argmax(y): a float and an int64 output.
fn affine_model(input_dims: &[pb::Dim]) -> Vec<u8> {
    pb::model(&[
        pb::node("Mul", "", &["x", "w"], &["xw"]),
        pb::node("Add", "", &["xw", "b"], &["y"]),
        pb::node_with("ArgMax", "", &["y"], &["best"], &[("axis", 1)]),
        pb::init_f32("w", &[3], &[2.0, -1.0, 0.5]),
        pb::init_f32("b", &[3], &[0.25, 0.0, 10.0]),
        pb::value_info(11, "x", 1, input_dims),
        pb::value_info(12, "y", 1, &[Param("N"), Fixed(3)]),
        pb::value_info(12, "best", 7, &[Param("N"), Fixed(1)]),
    ])
}

#[test]
fn runs_a_model_exported_with_a_dynamic_batch_axis() {
    let model = OnnxModel::load(&affine_model(&[Param("N"), Fixed(3)]), 3).unwrap();
    let out = model.run(&[1.0, 2.0, -4.0]).unwrap();
    let y = out.get("y").unwrap();
    assert_eq!(y.shape, vec![1, 3]);
    assert_eq!(y.values, vec![2.25, -2.0, 8.0]);
    assert_eq!(y.ints, None);
    let best = out.get("best").unwrap();
    assert_eq!(best.elem, ElemType::I64);
    assert_eq!(best.ints, Some(vec![2]));
    assert_eq!(best.values, vec![2.0]);
}

#[test]
fn describes_input_and_outputs_for_inspection() {
    let model = OnnxModel::load(&affine_model(&[Fixed(1), Fixed(3)]), 3).unwrap();
    assert_eq!(model.input().to_string(), "x float32[1, 3]");
    let outputs: Vec<String> = model.outputs().iter().map(|o| o.to_string()).collect();
    assert_eq!(outputs, vec!["y float32[1, 3]", "best int64[1, 1]"]);
    assert_eq!(model.n_features(), 3);
}

#[test]
fn names_every_unsupported_operator_at_load() {
    let bytes = pb::model(&[
        pb::node("LabelEncoder", "ai.onnx.ml", &["x"], &["t"]),
        pb::node("FancyOp", "com.example", &["t"], &["y"]),
        pb::value_info(11, "x", 1, &[Param("N"), Fixed(3)]),
        pb::value_info(12, "y", 1, &[Param("N"), Fixed(1)]),
    ]);
    let err = OnnxModel::load(&bytes, 3).unwrap_err();
    let ModelError::UnsupportedOperators(ops) = &err else {
        panic!("{err:?}")
    };
    let types: Vec<&str> = ops.iter().map(|o| o.op_type.as_str()).collect();
    assert_eq!(types, vec!["LabelEncoder", "FancyOp"]);
    let msg = err.to_string();
    assert!(msg.contains("FancyOp, LabelEncoder"), "{msg}");
    assert!(msg.contains("`LabelEncoder_node` (LabelEncoder)"), "{msg}");
    assert!(msg.contains("onnx_rewrite.py"), "{msg}");
}

#[test]
fn refuses_a_model_built_for_another_feature_count() {
    let err = OnnxModel::load(&affine_model(&[Param("N"), Fixed(3)]), 4).unwrap_err();
    assert!(
        matches!(err, ModelError::InputShape { n_features: 4, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("expected [1, 4] or [N, 4]"),
        "{err}"
    );
}

#[test]
fn refuses_a_fixed_batch_of_several_rows() {
    let err = OnnxModel::load(&affine_model(&[Fixed(8), Fixed(3)]), 3).unwrap_err();
    assert!(matches!(err, ModelError::InputShape { .. }), "{err:?}");
}

#[test]
fn refuses_an_input_that_is_not_float32() {
    let bytes = pb::model(&[
        pb::node_with("Cast", "", &["x"], &["y"], &[("to", 1)]),
        pb::value_info(11, "x", 7, &[Param("N"), Fixed(3)]),
        pb::value_info(12, "y", 1, &[Param("N"), Fixed(3)]),
    ]);
    let err = OnnxModel::load(&bytes, 3).unwrap_err();
    assert!(matches!(err, ModelError::InputType { .. }), "{err:?}");
}

#[test]
fn refuses_a_model_with_two_inputs() {
    let bytes = pb::model(&[
        pb::node("Add", "", &["a", "b"], &["y"]),
        pb::value_info(11, "a", 1, &[Fixed(1), Fixed(3)]),
        pb::value_info(11, "b", 1, &[Fixed(1), Fixed(3)]),
        pb::value_info(12, "y", 1, &[Fixed(1), Fixed(3)]),
    ]);
    let err = OnnxModel::load(&bytes, 3).unwrap_err();
    assert!(matches!(err, ModelError::InputCount(2)), "{err:?}");
}

#[test]
fn refuses_bytes_that_are_not_onnx() {
    for bytes in [&b""[..], b"not an onnx file at all", &[0xff; 64]] {
        match OnnxModel::load(bytes, 3) {
            Err(ModelError::Parse(_)) => {}
            other => panic!("{bytes:?}: {other:?}"),
        }
    }
}

#[test]
fn a_tree_ensemble_declaring_2_to_the_40_outputs_is_refused_by_the_limits() {
    // Before the limits, this 1 kB file made the process abort on allocation.
    let bomb = pb::stump_regressor(1 << 40);
    assert!(bomb.len() < 1024);
    let e = OnnxModel::load(&bomb, 1).unwrap_err();
    assert!(matches!(e, ModelError::Limits(_)), "{e}");
    assert!(e.to_string().contains("limit 4096"), "{e}");
    let model = OnnxModel::load(&pb::stump_regressor(3), 1).unwrap();
    assert_eq!(model.run(&[0.0]).unwrap().0[0].values, vec![1.0, 0.0, 0.0]);
}

#[test]
fn refuses_zero_features() {
    let err = OnnxModel::load(&affine_model(&[Param("N"), Fixed(3)]), 0).unwrap_err();
    assert!(matches!(err, ModelError::NoFeatures), "{err:?}");
}

#[test]
fn run_refuses_a_feature_vector_of_the_wrong_length() {
    let model = OnnxModel::load(&affine_model(&[Param("N"), Fixed(3)]), 3).unwrap();
    let err = model.run(&[1.0, 2.0]).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::FeatureCount {
                expected: 3,
                got: 2
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_model_can_be_shared_with_the_inference_thread() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<OnnxModel>();
    send_sync::<ModelError>();
}

#[test]
fn load_file_names_a_missing_file() {
    let err = OnnxModel::load_file(Path::new("/nonexistent/model.onnx"), 3).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/model.onnx"), "{err}");
}
