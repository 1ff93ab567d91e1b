//! The `recorder.toml` a test crate uses, found and parsed once per process: the
//! harness, the context, services and the environment layers all read it from here.

use crate::error::Result;
use recorder_config::Config;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

/// `recorder.toml` found from `start` upward, parsed once per process.
pub fn config_for(start: &Path) -> Result<Option<Arc<Config>>> {
    static CONFIGS: LazyLock<Mutex<HashMap<PathBuf, Option<Arc<Config>>>>> =
        LazyLock::new(Default::default);
    if let Some(c) = CONFIGS.lock().unwrap().get(start) {
        return Ok(c.clone());
    }
    let config = Config::discover(start)?.map(Arc::new);
    CONFIGS
        .lock()
        .unwrap()
        .insert(start.to_path_buf(), config.clone());
    Ok(config)
}
