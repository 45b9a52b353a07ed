//! Model packages: manifest, checks at load, the ONNX runtime (tract), and the alert rules on a
//! model's output ([`rule`]).

pub mod bench;
pub mod limits;
pub mod load;
pub mod manifest;
pub mod monitor;
pub mod onnx;
pub mod package;
pub mod rule;
pub mod runner;
pub mod stage;
#[cfg(test)]
pub(crate) mod testpb;
pub mod trees;
pub mod verify;
