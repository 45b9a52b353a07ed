//! tract has a few `unimplemented!()` paths for exotic tensor encodings: loading and running
//! catch a panic and turn it into [`ModelError::Panic`], so a bad file cannot take the agent
//! down (this relies on `panic = "unwind"`, the default profile setting).

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::ModelError;

/// Runs `f`; a panic inside becomes [`ModelError::Panic`] naming `stage` ("loading", "running").
pub(super) fn catch<T>(
    stage: &'static str,
    f: impl FnOnce() -> Result<T, ModelError>,
) -> Result<T, ModelError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(ModelError::Panic {
            stage,
            message: panic_message(payload),
        })
    })
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}
