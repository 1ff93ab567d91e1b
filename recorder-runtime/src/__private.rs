//! What `#[recorded_test]` expands to reaches through this module, and only
//! through it: re-exports, so that the macro has one stable path into the runtime
//! whatever the modules are called. Not a public API: it may change with the macro.

pub use crate::harness::{run_async, run_sync, Fixtures, TestOutput, TestSpec};
pub use crate::model::Model;
