//! One module per command.

pub(crate) mod check;
pub(crate) mod import;
pub(crate) mod init;
pub(crate) mod list;
pub(crate) mod mcp_stdio;
pub(crate) mod migrate;
pub(crate) mod normalize;
pub(crate) mod options;
pub(crate) mod prune;
pub(crate) mod reindex;
pub(crate) mod report;
pub(crate) mod review;
pub(crate) mod serve;
