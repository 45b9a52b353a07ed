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
//!
//! The attribute enums (node mode, aggregate function, post transform) and the post
//! transforms' math are in `modes.rs`; the build checks and the evaluation are here.

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

mod modes;

pub use modes::{logistic, Aggregate, Mode, PostTransform};

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
mod tests;
