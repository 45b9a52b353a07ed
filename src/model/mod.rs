//! Model packages: manifest, checks at load, and the ONNX runtime (tract).

pub mod bench;
pub mod limits;
pub mod load;
pub mod manifest;
pub mod monitor;
pub mod onnx;
pub mod package;
pub mod runner;
pub mod stage;
#[cfg(test)]
pub(crate) mod testpb;
pub mod trees;
pub mod verify;
