//! A compact tree-ensemble evaluator: one flat array of nodes, one path followed per tree.
//!
//! Built from the `ai.onnx.ml` TreeEnsembleClassifier / TreeEnsembleRegressor attributes (see
//! [`super`] for the parsing), evaluated on `f32` rows. Everything that can be wrong
//! with the attributes (dangling child ids, cycles, class ids out of range, unknown modes) is
//! rejected by [`Forest::build`], so evaluation is panic-free and always terminates; sizes
//! (nodes, votes, outputs, trees) are checked against [`crate::model::limits`] before the
//! tables sized from them are allocated.
//!
//! Summation order is the one tract-onnx-opl 0.23 uses (trees by ascending tree id, the votes
//! of a leaf in attribute order, all in f32), so SUM results are bit-identical to tract's.

use std::collections::HashMap;
use std::fmt;

use crate::model::limits::{MAX_TREES, MAX_TREE_NODES, MAX_TREE_OUTPUTS, MAX_TREE_VOTES};

/// Why a tree ensemble could not be built or evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForestError(pub String);

impl fmt::Display for ForestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ForestError {}

macro_rules! fail {
    ($($arg:tt)*) => { return Err(ForestError(format!($($arg)*))) };
}

/// Node comparison, `x <op> threshold` sends the row to the true child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, ForestError> {
        Ok(match s {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => Mode::Leaf,
            other => fail!("unknown node mode {other:?}"),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

impl Aggregate {
    pub fn parse(s: &str) -> Result<Aggregate, ForestError> {
        Ok(match s {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => fail!("unknown aggregate_function {other:?}"),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
}

impl PostTransform {
    pub fn parse(s: &str) -> Result<PostTransform, ForestError> {
        Ok(match s {
            "NONE" => PostTransform::None,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX" => PostTransform::Softmax,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => fail!("post_transform PROBIT is not supported"),
            other => fail!("unknown post_transform {other:?}"),
        })
    }

    pub fn apply(self, scores: &mut [f32]) {
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
            PostTransform::Softmax => softmax(scores, false),
            PostTransform::SoftmaxZero => softmax(scores, true),
        }
    }
}

/// onnxruntime's `ComputeLogistic`: symmetric, no overflow for large |x|.
pub fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 {
        1.0 - v
    } else {
        v
    }
}

fn softmax(scores: &mut [f32], keep_zeros: bool) {
    let considered = |s: f32| !keep_zeros || s != 0.0;
    let max = scores
        .iter()
        .copied()
        .filter(|s| considered(*s))
        .fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        if considered(*s) {
            *s = (*s - max).exp();
            sum += *s;
        }
    }
    if sum > 0.0 {
        for s in scores.iter_mut() {
            if considered(*s) {
                *s /= sum;
            }
        }
    }
}

/// One node, 16 bytes. For a leaf, `a..b` is its range in [`Forest::votes`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    threshold: f32,
    /// Branch: feature index (low 24 bits) | mode (bits 24..27) | missing-tracks-true (bit 31).
    /// Leaf: mode bits are LEAF.
    packed: u32,
    /// Branch: absolute index of the true child; leaf: first vote.
    a: u32,
    /// Branch: absolute index of the false child; leaf: end of votes.
    b: u32,
}

const MODE_SHIFT: u32 = 24;
const MODE_MASK: u32 = 0x7;
const FEATURE_MASK: u32 = (1 << MODE_SHIFT) - 1;
const MISSING_TRUE: u32 = 1 << 31;
const M_LEQ: u32 = 0;
const M_LT: u32 = 1;
const M_GTE: u32 = 2;
const M_GT: u32 = 3;
const M_EQ: u32 = 4;
const M_NEQ: u32 = 5;
const M_LEAF: u32 = 6;

fn mode_code(m: Mode) -> u32 {
    match m {
        Mode::Leq => M_LEQ,
        Mode::Lt => M_LT,
        Mode::Gte => M_GTE,
        Mode::Gt => M_GT,
        Mode::Eq => M_EQ,
        Mode::Neq => M_NEQ,
        Mode::Leaf => M_LEAF,
    }
}

/// Node attributes as ONNX lists them (one entry per node, any order).
pub struct NodeAttrs<'a> {
    pub tree_ids: &'a [i64],
    pub node_ids: &'a [i64],
    pub feature_ids: &'a [i64],
    pub modes: &'a [Mode],
    pub values: &'a [f32],
    pub true_ids: &'a [i64],
    pub false_ids: &'a [i64],
    /// Empty when the attribute is absent (= all false).
    pub missing_tracks_true: &'a [bool],
}

/// Leaf votes as ONNX lists them (`class_*` or `target_*`).
pub struct VoteAttrs<'a> {
    pub tree_ids: &'a [i64],
    pub node_ids: &'a [i64],
    /// Class index (classifier) or target index (regressor).
    pub ids: &'a [i64],
    pub weights: &'a [f32],
}

/// The trees of one ensemble, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    roots: Vec<u32>,
    nodes: Vec<Node>,
    /// (output index, weight), grouped by leaf.
    votes: Vec<(u32, f32)>,
    n_outputs: usize,
    /// Smallest row width the trees can read (max feature id + 1).
    n_features: usize,
    /// Per output: whether any leaf votes for it (onnxruntime's `has_score`).
    voted: Vec<bool>,
    all_weights_positive: bool,
}

impl Forest {
    pub fn build(
        nodes: &NodeAttrs,
        votes: &VoteAttrs,
        n_outputs: usize,
    ) -> Result<Forest, ForestError> {
        let n = nodes.tree_ids.len();
        if n == 0 {
            fail!("the ensemble has no nodes");
        }
        if n > MAX_TREE_NODES {
            fail!("the ensemble has {n} nodes (limit {MAX_TREE_NODES})");
        }
        if n_outputs > MAX_TREE_OUTPUTS {
            fail!("the ensemble has {n_outputs} outputs (limit {MAX_TREE_OUTPUTS})");
        }
        if votes.tree_ids.len() > MAX_TREE_VOTES {
            fail!(
                "the ensemble has {} leaf votes (limit {MAX_TREE_VOTES})",
                votes.tree_ids.len()
            );
        }
        for (name, len) in [
            ("nodes_nodeids", nodes.node_ids.len()),
            ("nodes_featureids", nodes.feature_ids.len()),
            ("nodes_modes", nodes.modes.len()),
            ("nodes_values", nodes.values.len()),
            ("nodes_truenodeids", nodes.true_ids.len()),
            ("nodes_falsenodeids", nodes.false_ids.len()),
        ] {
            if len != n {
                fail!("{name} has {len} entries, nodes_treeids has {n}");
            }
        }
        if !nodes.missing_tracks_true.is_empty() && nodes.missing_tracks_true.len() != n {
            fail!(
                "nodes_missing_value_tracks_true has {} entries, nodes_treeids has {n}",
                nodes.missing_tracks_true.len()
            );
        }
        let nv = votes.tree_ids.len();
        for (name, len) in [
            ("nodeids", votes.node_ids.len()),
            ("ids", votes.ids.len()),
            ("weights", votes.weights.len()),
        ] {
            if len != nv {
                fail!("leaf attribute *_{name} has {len} entries, *_treeids has {nv}");
            }
        }

        // Node order: by (tree id, node id); roots are each tree's smallest node id.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (nodes.tree_ids[i], nodes.node_ids[i]));
        let mut index: HashMap<(i64, i64), u32> = HashMap::with_capacity(n);
        let mut roots = Vec::new();
        let mut tree_of_root = Vec::new();
        for (pos, &i) in order.iter().enumerate() {
            let key = (nodes.tree_ids[i], nodes.node_ids[i]);
            if index.insert(key, pos as u32).is_some() {
                fail!("node {} of tree {} is defined twice", key.1, key.0);
            }
            if pos == 0 || nodes.tree_ids[order[pos - 1]] != key.0 {
                roots.push(pos as u32);
                tree_of_root.push(key.0);
            }
        }

        // Votes grouped by leaf, in attribute order within a leaf.
        let mut leaf_votes: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
        let mut voted = vec![false; n_outputs];
        let mut all_weights_positive = true;
        for v in 0..nv {
            let key = (votes.tree_ids[v], votes.node_ids[v]);
            let Some(&pos) = index.get(&key) else {
                fail!(
                    "a leaf vote names node {} of tree {}, which does not exist",
                    key.1,
                    key.0
                );
            };
            if nodes.modes[order[pos as usize]] != Mode::Leaf {
                fail!(
                    "a leaf vote names node {} of tree {}, which is a branch",
                    key.1,
                    key.0
                );
            }
            let id = votes.ids[v];
            if id < 0 || id as usize >= n_outputs {
                fail!("leaf vote for output {id}, but there are {n_outputs} outputs");
            }
            voted[id as usize] = true;
            all_weights_positive &= votes.weights[v] >= 0.0;
            leaf_votes[pos as usize].push((id as u32, votes.weights[v]));
        }

        let mut flat = Vec::with_capacity(n);
        let mut all_votes = Vec::with_capacity(nv);
        let mut n_features = 0usize;
        for (pos, &i) in order.iter().enumerate() {
            let mode = nodes.modes[i];
            if mode == Mode::Leaf {
                let start = all_votes.len() as u32;
                all_votes.extend_from_slice(&leaf_votes[pos]);
                flat.push(Node {
                    threshold: 0.0,
                    packed: M_LEAF << MODE_SHIFT,
                    a: start,
                    b: all_votes.len() as u32,
                });
                continue;
            }
            let tree = nodes.tree_ids[i];
            let child = |id: i64, which: &str| -> Result<u32, ForestError> {
                match index.get(&(tree, id)) {
                    Some(&p) => Ok(p),
                    None => fail!(
                        "node {} of tree {tree}: {which} child {id} does not exist",
                        nodes.node_ids[i]
                    ),
                }
            };
            let feature = nodes.feature_ids[i];
            if feature < 0 || feature > FEATURE_MASK as i64 {
                fail!(
                    "node {} of tree {tree}: feature id {feature} out of range",
                    nodes.node_ids[i]
                );
            }
            n_features = n_features.max(feature as usize + 1);
            let missing = nodes.missing_tracks_true.get(i).copied().unwrap_or(false);
            flat.push(Node {
                threshold: nodes.values[i],
                packed: feature as u32
                    | (mode_code(mode) << MODE_SHIFT)
                    | if missing { MISSING_TRUE } else { 0 },
                a: child(nodes.true_ids[i], "true")?,
                b: child(nodes.false_ids[i], "false")?,
            });
        }

        if roots.len() > MAX_TREES {
            fail!("the ensemble has {} trees (limit {MAX_TREES})", roots.len());
        }
        let forest = Forest {
            roots,
            nodes: flat,
            votes: all_votes,
            n_outputs,
            n_features,
            voted,
            all_weights_positive,
        };
        forest.check_acyclic(&tree_of_root)?;
        Ok(forest)
    }

    /// Every node reachable from a root is reached once: no cycles, so `leaf` terminates.
    fn check_acyclic(&self, tree_ids: &[i64]) -> Result<(), ForestError> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = Vec::new();
        for (t, &root) in self.roots.iter().enumerate() {
            stack.push(root);
            while let Some(i) = stack.pop() {
                let i = i as usize;
                if std::mem::replace(&mut seen[i], true) {
                    fail!(
                        "tree {} is not a tree: a node is reached twice",
                        tree_ids[t]
                    );
                }
                let node = &self.nodes[i];
                if (node.packed >> MODE_SHIFT) & MODE_MASK != M_LEAF {
                    stack.push(node.a);
                    stack.push(node.b);
                }
            }
        }
        Ok(())
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Smallest row width the trees can read.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn voted(&self) -> &[bool] {
        &self.voted
    }

    pub fn all_weights_positive(&self) -> bool {
        self.all_weights_positive
    }

    /// The votes of the leaf `row` reaches in tree `t`.
    #[inline]
    fn leaf(&self, t: usize, row: &[f32]) -> &[(u32, f32)] {
        let mut i = self.roots[t] as usize;
        loop {
            let node = &self.nodes[i];
            let feature = (node.packed & FEATURE_MASK) as usize;
            let mode = (node.packed >> MODE_SHIFT) & MODE_MASK;
            if mode == M_LEAF {
                return &self.votes[node.a as usize..node.b as usize];
            }
            let x = row[feature];
            let t = node.threshold;
            let go_true = match mode {
                M_LEQ => x <= t,
                M_LT => x < t,
                M_GTE => x >= t,
                M_GT => x > t,
                M_EQ => x == t,
                _ => x != t,
            } || (node.packed & MISSING_TRUE != 0 && x.is_nan());
            i = if go_true { node.a } else { node.b } as usize;
        }
    }

    /// Aggregates one row into `out` and sets `hit` for the outputs some reached leaf voted
    /// for (both `n_outputs` long, overwritten). Fails when the row is narrower than the
    /// features the trees read.
    pub fn eval_row(
        &self,
        row: &[f32],
        agg: Aggregate,
        out: &mut [f32],
        hit: &mut [bool],
    ) -> Result<(), ForestError> {
        if row.len() < self.n_features {
            fail!(
                "the row has {} features, the trees read feature #{}",
                row.len(),
                self.n_features - 1
            );
        }
        if out.len() != self.n_outputs || hit.len() != self.n_outputs {
            fail!(
                "output buffer has {} entries, expected {}",
                out.len(),
                self.n_outputs
            );
        }
        out.fill(0.0);
        hit.fill(false);
        match agg {
            Aggregate::Sum | Aggregate::Average => {
                for t in 0..self.roots.len() {
                    for &(id, w) in self.leaf(t, row) {
                        out[id as usize] += w;
                        hit[id as usize] = true;
                    }
                }
                if agg == Aggregate::Average {
                    let n = self.roots.len() as f32;
                    out.iter_mut().for_each(|s| *s /= n);
                }
            }
            Aggregate::Min | Aggregate::Max => {
                for t in 0..self.roots.len() {
                    for &(id, w) in self.leaf(t, row) {
                        let (s, h) = (&mut out[id as usize], &mut hit[id as usize]);
                        let better = if agg == Aggregate::Min {
                            w < *s
                        } else {
                            w > *s
                        };
                        if !*h || better {
                            *s = w;
                        }
                        *h = true;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
}
