//! Model packages: manifest, checks at load, and the ONNX runtime (tract).

pub mod manifest;
pub mod monitor;
pub mod package;
pub mod runner;
