use super::*;

/// Owned ONNX attributes for a hand-built ensemble, added node by node.
#[derive(Clone, Default)]
struct Attrs {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    feature_ids: Vec<i64>,
    modes: Vec<Mode>,
    values: Vec<f32>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    missing: Vec<bool>,
    vote_trees: Vec<i64>,
    vote_nodes: Vec<i64>,
    vote_ids: Vec<i64>,
    vote_weights: Vec<f32>,
}

impl Attrs {
    /// Node `id` of `tree`: `x[feature] <mode> value` goes to `t`, else to `f`.
    #[allow(clippy::too_many_arguments)]
    fn branch(
        mut self,
        tree: i64,
        id: i64,
        feature: i64,
        mode: Mode,
        value: f32,
        t: i64,
        f: i64,
    ) -> Self {
        self.tree_ids.push(tree);
        self.node_ids.push(id);
        self.feature_ids.push(feature);
        self.modes.push(mode);
        self.values.push(value);
        self.true_ids.push(t);
        self.false_ids.push(f);
        self.missing.push(false);
        self
    }

    /// The last node added sends NaN to its true child.
    fn nan_true(mut self) -> Self {
        *self.missing.last_mut().unwrap() = true;
        self
    }

    /// Leaf `id` of `tree` with its (output, weight) votes.
    fn leaf(mut self, tree: i64, id: i64, votes: &[(i64, f32)]) -> Self {
        self = self.branch(tree, id, 0, Mode::Leaf, 0.0, 0, 0);
        for &(output, weight) in votes {
            self = self.vote(tree, id, output, weight);
        }
        self
    }

    fn vote(mut self, tree: i64, id: i64, output: i64, weight: f32) -> Self {
        self.vote_trees.push(tree);
        self.vote_nodes.push(id);
        self.vote_ids.push(output);
        self.vote_weights.push(weight);
        self
    }

    fn build(&self, n_outputs: usize) -> Result<Forest, ForestError> {
        let nodes = NodeAttrs {
            tree_ids: &self.tree_ids,
            node_ids: &self.node_ids,
            feature_ids: &self.feature_ids,
            modes: &self.modes,
            values: &self.values,
            true_ids: &self.true_ids,
            false_ids: &self.false_ids,
            missing_tracks_true: &self.missing,
        };
        let votes = VoteAttrs {
            tree_ids: &self.vote_trees,
            node_ids: &self.vote_nodes,
            ids: &self.vote_ids,
            weights: &self.vote_weights,
        };
        Forest::build(&nodes, &votes, n_outputs)
    }
}

/// A valid one-tree stump on feature 0: `x <= 1` scores 1, else -1.
fn stump() -> Attrs {
    Attrs::default()
        .branch(0, 0, 0, Mode::Leq, 1.0, 1, 2)
        .leaf(0, 1, &[(0, 1.0)])
        .leaf(0, 2, &[(0, -1.0)])
}

/// The build error's message (panics when the build succeeds).
fn refused(attrs: &Attrs, n_outputs: usize) -> String {
    match attrs.build(n_outputs) {
        Ok(_) => panic!("malformed ensemble accepted"),
        Err(e) => e.to_string(),
    }
}

fn eval(forest: &Forest, row: &[f32], agg: Aggregate) -> (Vec<f32>, Vec<bool>) {
    let mut out = vec![f32::NAN; forest.n_outputs()];
    let mut hit = vec![true; forest.n_outputs()];
    forest.eval_row(row, agg, &mut out, &mut hit).unwrap();
    (out, hit)
}

#[test]
fn the_stump_helper_builds() {
    // The malformed variants below differ from this one by the defect they name.
    let f = stump().build(1).unwrap();
    assert_eq!((f.n_trees(), f.n_features()), (1, 1));
}

#[test]
fn dangling_child_is_refused() {
    let mut a = stump();
    a.false_ids[0] = 7;
    assert_eq!(
        refused(&a, 1),
        "node 0 of tree 0: false child 7 does not exist"
    );
}

#[test]
fn shared_child_and_cycle_are_refused() {
    // Node 2 is the false child of both 0 and 1.
    let shared = Attrs::default()
        .branch(0, 0, 0, Mode::Leq, 1.0, 1, 2)
        .branch(0, 1, 0, Mode::Leq, 0.0, 3, 2)
        .leaf(0, 2, &[(0, 1.0)])
        .leaf(0, 3, &[(0, 2.0)]);
    assert_eq!(
        refused(&shared, 1),
        "tree 0 is not a tree: a node is reached twice"
    );
    // Node 1's true child is the root.
    let cycle = Attrs::default()
        .branch(0, 0, 0, Mode::Leq, 1.0, 1, 2)
        .branch(0, 1, 0, Mode::Leq, 0.0, 0, 3)
        .leaf(0, 2, &[(0, 1.0)])
        .leaf(0, 3, &[(0, 2.0)]);
    assert_eq!(
        refused(&cycle, 1),
        "tree 0 is not a tree: a node is reached twice"
    );
}

#[test]
fn duplicate_node_id_is_refused() {
    let a = stump().leaf(0, 2, &[]);
    assert_eq!(refused(&a, 1), "node 2 of tree 0 is defined twice");
}

#[test]
fn output_id_out_of_range_is_refused() {
    let a = stump().vote(0, 1, 2, 0.5);
    assert_eq!(
        refused(&a, 2),
        "leaf vote for output 2, but there are 2 outputs"
    );
    let a = stump().vote(0, 1, -1, 0.5);
    assert_eq!(
        refused(&a, 2),
        "leaf vote for output -1, but there are 2 outputs"
    );
}

#[test]
fn sizes_over_the_limits_are_refused_before_allocating() {
    // 2^40 outputs: the per-output tables would be terabytes; refused by the count.
    assert_eq!(
        refused(&stump(), 1 << 40),
        format!("the ensemble has {} outputs (limit 4096)", 1u64 << 40)
    );
    assert!(stump().build(MAX_TREE_OUTPUTS).is_ok());
    let mut many = stump();
    for t in 1..=MAX_TREES as i64 {
        many = many.leaf(t, 0, &[]);
    }
    assert_eq!(
        refused(&many, 1),
        "the ensemble has 65537 trees (limit 65536)"
    );
}

#[test]
fn votes_must_name_an_existing_leaf() {
    let a = stump().vote(0, 0, 0, 0.5);
    assert_eq!(
        refused(&a, 1),
        "a leaf vote names node 0 of tree 0, which is a branch"
    );
    let a = stump().vote(1, 1, 0, 0.5);
    assert_eq!(
        refused(&a, 1),
        "a leaf vote names node 1 of tree 1, which does not exist"
    );
}

#[test]
fn unknown_strings_and_probit_are_refused() {
    assert_eq!(
        Mode::parse("BRANCH_LE").unwrap_err().to_string(),
        "unknown node mode \"BRANCH_LE\""
    );
    assert_eq!(Mode::parse("BRANCH_GTE"), Ok(Mode::Gte));
    assert_eq!(
        Aggregate::parse("MEDIAN").unwrap_err().to_string(),
        "unknown aggregate_function \"MEDIAN\""
    );
    assert_eq!(
        PostTransform::parse("PROBIT").unwrap_err().to_string(),
        "post_transform PROBIT is not supported"
    );
    assert_eq!(
        PostTransform::parse("SOFTMAX_ZERO"),
        Ok(PostTransform::SoftmaxZero)
    );
}

#[test]
fn attribute_lengths_must_agree() {
    let mut a = stump();
    a.values.pop();
    assert_eq!(
        refused(&a, 1),
        "nodes_values has 2 entries, nodes_treeids has 3"
    );
    let mut a = stump();
    a.true_ids.push(1);
    assert_eq!(
        refused(&a, 1),
        "nodes_truenodeids has 4 entries, nodes_treeids has 3"
    );
    let mut a = stump();
    a.missing.pop();
    assert_eq!(
        refused(&a, 1),
        "nodes_missing_value_tracks_true has 2 entries, nodes_treeids has 3"
    );
    let mut a = stump();
    a.vote_weights.pop();
    assert_eq!(
        refused(&a, 1),
        "leaf attribute *_weights has 1 entries, *_treeids has 2"
    );
    // An absent nodes_missing_value_tracks_true is all false.
    let mut a = stump();
    a.missing.clear();
    assert!(a.build(1).is_ok());
}

#[test]
fn feature_ids_must_be_in_range() {
    let mut a = stump();
    a.feature_ids[0] = -1;
    assert_eq!(
        refused(&a, 1),
        "node 0 of tree 0: feature id -1 out of range"
    );
}

/// One stump on feature 1 (feature 0 is a decoy): `x <mode> 1` scores 1, else -1.
fn mode_stump(mode: Mode, nan_true: bool) -> Forest {
    let mut a = Attrs::default().branch(0, 0, 1, mode, 1.0, 1, 2);
    if nan_true {
        a = a.nan_true();
    }
    a.leaf(0, 1, &[(0, 1.0)])
        .leaf(0, 2, &[(0, -1.0)])
        .build(1)
        .unwrap()
}

const T: f32 = 1.0;
const F: f32 = -1.0;

#[test]
fn every_branch_mode_compares_as_named() {
    // x = 0.5, 1.0 (on the threshold), 1.5
    for (mode, want) in [
        (Mode::Leq, [T, T, F]),
        (Mode::Lt, [T, F, F]),
        (Mode::Gte, [F, T, T]),
        (Mode::Gt, [F, F, T]),
        (Mode::Eq, [F, T, F]),
        (Mode::Neq, [T, F, T]),
    ] {
        let forest = mode_stump(mode, false);
        let got = [0.5, 1.0, 1.5].map(|x| eval(&forest, &[1.0, x], Aggregate::Sum).0[0]);
        assert_eq!(got, want, "{mode:?}");
    }
}

#[test]
fn nan_goes_to_the_true_child_only_when_tracked() {
    // Untracked, NaN compares as IEEE NaN: false, except for !=.
    for (mode, untracked) in [
        (Mode::Leq, F),
        (Mode::Lt, F),
        (Mode::Gte, F),
        (Mode::Gt, F),
        (Mode::Eq, F),
        (Mode::Neq, T),
    ] {
        let row = [1.0, f32::NAN];
        let got = eval(&mode_stump(mode, false), &row, Aggregate::Sum).0[0];
        assert_eq!(got, untracked, "{mode:?}, NaN untracked");
        let got = eval(&mode_stump(mode, true), &row, Aggregate::Sum).0[0];
        assert_eq!(got, T, "{mode:?}, NaN tracks true");
        // The flag changes nothing for a number.
        let got = eval(&mode_stump(mode, true), &[1.0, 3.0], Aggregate::Sum).0;
        assert_eq!(
            got,
            eval(&mode_stump(mode, false), &[1.0, 3.0], Aggregate::Sum).0
        );
    }
}

/// Three trees over three outputs (output 2 gets no vote):
/// tree 0 is a single leaf {0: 1, 1: -2}; tree 1 a single leaf {0: 4};
/// tree 2 splits on x0 <= 0: {0: -3} / {1: 5}.
fn three_trees() -> Forest {
    Attrs::default()
        .leaf(0, 0, &[(0, 1.0), (1, -2.0)])
        .leaf(1, 0, &[(0, 4.0)])
        .branch(2, 0, 0, Mode::Leq, 0.0, 1, 2)
        .leaf(2, 1, &[(0, -3.0)])
        .leaf(2, 2, &[(1, 5.0)])
        .build(3)
        .unwrap()
}

#[test]
fn aggregates_over_trees() {
    let f = three_trees();
    assert_eq!(f.n_trees(), 3);
    assert_eq!(f.voted(), [true, true, false]);
    let (left, right) = ([-1.0], [1.0]);
    // Output 0 gets {1, 4, -3} left and {1, 4} right; output 1 {-2} left, {-2, 5} right.
    for (agg, want_left, want_right) in [
        (Aggregate::Sum, [2.0, -2.0, 0.0], [5.0, 3.0, 0.0]),
        (
            Aggregate::Average,
            [2.0 / 3.0, -2.0 / 3.0, 0.0],
            [5.0 / 3.0, 1.0, 0.0],
        ),
        // Starts from the first vote, not from 0: min 1 and max -2 below.
        (Aggregate::Min, [-3.0, -2.0, 0.0], [1.0, -2.0, 0.0]),
        (Aggregate::Max, [4.0, -2.0, 0.0], [4.0, 5.0, 0.0]),
    ] {
        assert_eq!(
            eval(&f, &left, agg),
            (want_left.to_vec(), vec![true, true, false]),
            "{agg:?} left"
        );
        assert_eq!(
            eval(&f, &right, agg),
            (want_right.to_vec(), vec![true, true, false]),
            "{agg:?} right"
        );
    }
}

#[test]
fn weights_sign_is_recorded() {
    assert!(!three_trees().all_weights_positive());
    let positive = Attrs::default()
        .leaf(0, 0, &[(0, 0.5), (1, 0.0)])
        .build(2)
        .unwrap();
    assert!(positive.all_weights_positive());
}

#[test]
fn a_row_narrower_than_the_features_read_is_an_error() {
    let forest = mode_stump(Mode::Leq, false);
    let (mut out, mut hit) = (vec![0.0], vec![false]);
    let err = forest.eval_row(&[1.0], Aggregate::Sum, &mut out, &mut hit);
    assert_eq!(
        err.unwrap_err().to_string(),
        "the row has 1 features, the trees read feature #1"
    );
}
