//! A binary Merkle tree over SHA-256 with domain-separated leaves and nodes.
//!
//! - Leaf of completion position `t`: `H("grail/v1/leaf", u64 t, u64 token, u64 logprob
//!   f32 bits, u32 commitment)`, each integer zero-extended to 8 bytes.
//! - Node: `H("grail/v1/node", left, right)`.
//! - Odd-node rule: when a level has an odd number of nodes, its last node is promoted to the
//!   next level unchanged (never duplicated, so no two leaf lists share a root).
//! - A one-leaf tree's root is its leaf; the empty tree's root is `H("grail/v1/empty")`.

use crate::error::ProtocolError;
use crate::hash::{DomainHasher, Hash32};

/// Domain of a leaf.
pub const DOMAIN_LEAF: &str = "grail/v1/leaf";
/// Domain of an inner node.
pub const DOMAIN_NODE: &str = "grail/v1/node";
/// Domain of the empty tree's root.
pub const DOMAIN_EMPTY: &str = "grail/v1/empty";

/// The leaf of completion position `t`.
pub fn leaf_hash(position: u32, token: u32, logprob: f32, commitment: u32) -> Hash32 {
    DomainHasher::new(DOMAIN_LEAF)
        .u64(u64::from(position))
        .u64(u64::from(token))
        .u64(u64::from(logprob.to_bits()))
        .u64(u64::from(commitment))
        .finish()
}

/// An inner node.
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    DomainHasher::new(DOMAIN_NODE).bytes(left).bytes(right).finish()
}

/// The root of the empty tree.
pub fn empty_root() -> Hash32 {
    DomainHasher::new(DOMAIN_EMPTY).finish()
}

/// The leaves of one rollout's completion; the three slices must have equal lengths.
pub fn completion_leaves(
    tokens: &[u32],
    logprobs: &[f32],
    commitments: &[u32],
) -> Result<Vec<Hash32>, ProtocolError> {
    for (field, len) in [("logprobs", logprobs.len()), ("commitments", commitments.len())] {
        if len != tokens.len() {
            return Err(ProtocolError::LengthMismatch {
                field: field.into(),
                found: len as u64,
                expected: tokens.len() as u64,
            });
        }
    }
    let n = u32::try_from(tokens.len()).map_err(|_| ProtocolError::TooLarge {
        field: "completion_tokens".into(),
        value: tokens.len() as u64,
        limit: u64::from(u32::MAX),
    })?;
    Ok((0..n)
        .zip(tokens.iter().zip(logprobs).zip(commitments))
        .map(|(t, ((&tok, &lp), &c))| leaf_hash(t, tok, lp, c))
        .collect())
}

fn next_level(level: &[Hash32]) -> Vec<Hash32> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node_hash(l, r),
            [last] => *last,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The root over `leaves`.
pub fn merkle_root(leaves: &[Hash32]) -> Hash32 {
    if leaves.is_empty() {
        return empty_root();
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// An inclusion proof: the siblings from the leaf's level upward, skipping levels where the
/// node on the path was promoted without a sibling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleProof {
    /// Index of the leaf.
    pub index: u32,
    /// Number of leaves in the tree.
    pub leaf_count: u32,
    /// Sibling hashes, bottom up.
    pub siblings: Vec<Hash32>,
}

/// A tree kept whole, for generating proofs.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash32>>,
}

impl MerkleTree {
    /// Builds every level over `leaves`.
    pub fn new(leaves: Vec<Hash32>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let next = next_level(levels.last().map_or(&[][..], Vec::as_slice));
            levels.push(next);
        }
        Self { levels }
    }

    /// Number of leaves.
    pub fn leaf_count(&self) -> usize {
        self.levels[0].len()
    }

    /// The root (the empty root when there are no leaves).
    pub fn root(&self) -> Hash32 {
        match self.levels.last() {
            Some(top) if top.len() == 1 => top[0],
            _ => empty_root(),
        }
    }

    /// The inclusion proof of leaf `index`.
    pub fn proof(&self, index: u32) -> Result<MerkleProof, ProtocolError> {
        let n = self.leaf_count();
        if index as usize >= n {
            return Err(ProtocolError::BadProof {
                reason: format!("leaf {index} is outside a tree of {n} leaves"),
            });
        }
        let mut siblings = Vec::new();
        let mut i = index as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                siblings.push(level[sibling]);
            }
            i /= 2;
        }
        Ok(MerkleProof { index, leaf_count: n as u32, siblings })
    }
}

impl MerkleProof {
    /// The root this proof gives for `leaf`; an error when the proof's shape does not fit
    /// its leaf count.
    pub fn root_for(&self, leaf: &Hash32) -> Result<Hash32, ProtocolError> {
        let bad = |reason: String| ProtocolError::BadProof { reason };
        if self.index >= self.leaf_count {
            return Err(bad(format!("leaf {} of a tree of {}", self.index, self.leaf_count)));
        }
        let mut siblings = self.siblings.iter();
        let (mut i, mut width, mut acc) = (self.index, self.leaf_count, *leaf);
        while width > 1 {
            let promoted = i % 2 == 0 && i + 1 == width;
            if !promoted {
                let s = siblings.next().ok_or_else(|| bad("too few siblings".into()))?;
                acc = if i % 2 == 0 { node_hash(&acc, s) } else { node_hash(s, &acc) };
            }
            i /= 2;
            width = width.div_ceil(2);
        }
        if siblings.next().is_some() {
            return Err(bad("too many siblings".into()));
        }
        Ok(acc)
    }

    /// Whether `leaf` is at `index` in the tree whose root is `root`.
    pub fn verify(&self, leaf: &Hash32, root: &Hash32) -> bool {
        self.root_for(leaf).is_ok_and(|r| &r == root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u32) -> Vec<Hash32> {
        (0..n).map(|t| leaf_hash(t, t * 7, -(t as f32) / 3.0, t << 20)).collect()
    }

    #[test]
    fn every_proof_verifies_and_wrong_ones_do_not() {
        for n in 1..=17u32 {
            let l = leaves(n);
            let tree = MerkleTree::new(l.clone());
            let root = tree.root();
            assert_eq!(root, merkle_root(&l));
            for i in 0..n {
                let p = tree.proof(i).unwrap();
                assert!(p.verify(&l[i as usize], &root), "n={n} i={i}");
                let other = l[((i + 1) % n) as usize];
                assert_eq!(p.verify(&other, &root), n == 1 && other == l[i as usize]);
                let mut moved = p.clone();
                moved.index = (i + 1) % n;
                if n > 1 {
                    assert!(!moved.verify(&l[i as usize], &root));
                }
                let mut long = p.clone();
                long.siblings.push([0u8; 32]);
                assert!(!long.verify(&l[i as usize], &root));
            }
            assert!(tree.proof(n).is_err());
        }
    }

    #[test]
    fn odd_node_is_promoted_not_duplicated() {
        let l = leaves(3);
        assert_eq!(merkle_root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        let mut dup = l.clone();
        dup.push(l[2]);
        assert_ne!(merkle_root(&l), merkle_root(&dup));
        assert_eq!(merkle_root(&l[..1]), l[0]);
    }

    #[test]
    fn empty_tree_and_leaf_fields() {
        assert_eq!(merkle_root(&[]), empty_root());
        assert_eq!(MerkleTree::new(vec![]).root(), empty_root());
        let base = leaf_hash(1, 2, 0.5, 3);
        assert_ne!(base, leaf_hash(0, 2, 0.5, 3));
        assert_ne!(base, leaf_hash(1, 3, 0.5, 3));
        assert_ne!(base, leaf_hash(1, 2, 0.25, 3));
        assert_ne!(base, leaf_hash(1, 2, 0.5, 4));
        assert!(completion_leaves(&[1, 2], &[0.0], &[1, 2]).is_err());
        assert!(completion_leaves(&[1, 2], &[0.0, 0.0], &[1]).is_err());
        assert_eq!(completion_leaves(&[2], &[0.5], &[3]).unwrap(), vec![leaf_hash(0, 2, 0.5, 3)]);
    }
}
