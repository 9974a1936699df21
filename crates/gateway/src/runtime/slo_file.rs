//! The SLO window on disk (`[slo] path`): read once at start, written every
//! [`SAVE_EVERY`] when it changed and at exit — to a temporary file renamed into place,
//! so a crash mid-write leaves the previous file whole.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::config::{Config, default_usage_path};
use crate::series::slo::SloFile;
use crate::state::AppState;

/// How often a changed window is written.
pub(super) const SAVE_EVERY: Duration = Duration::from_secs(10);
/// The largest file read back (a full 90-day window is about 70 KB).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Where the window is kept, unless `[slo] persist = false`: `[slo] path`, else
/// `slo.json` beside the usage log.
pub(super) fn path(config: &Config) -> Option<PathBuf> {
    if !config.slo.persist {
        return None;
    }
    if let Some(p) = &config.slo.path {
        return Some(p.clone());
    }
    let usage = config
        .usage
        .path
        .clone()
        .unwrap_or_else(|| default_usage_path(&|k| std::env::var(k).ok()));
    Some(usage.with_file_name("slo.json"))
}

/// Add the saved window to `st`'s (a missing file is a first start; a bad one is
/// reported and left alone).
pub(super) fn load(st: &AppState) {
    let Some(path) = path(&st.config) else { return };
    let read = std::fs::File::open(&path).and_then(|f| {
        use std::io::Read;
        let mut text = String::new();
        f.take(MAX_FILE_BYTES).read_to_string(&mut text)?;
        Ok(text)
    });
    let text = match read {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the SLO window; starting it afresh");
            return;
        }
    };
    match serde_json::from_str::<SloFile>(&text) {
        Ok(file) => {
            let hours = st.stats.restore_slo(&file);
            tracing::info!(path = %path.display(), hours, "SLO window restored");
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the SLO window file is not valid; starting it afresh (the file is overwritten at the next save)");
        }
    }
}

/// Write the window if it changed since last written.
pub(super) fn save(st: &AppState) -> std::io::Result<()> {
    /// One writer at a time (a reload briefly runs two states' tasks).
    static WRITING: Mutex<()> = Mutex::new(());
    let Some(path) = path(&st.config) else {
        return Ok(());
    };
    let _one = WRITING.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(file) = st.stats.slo_to_save() else {
        return Ok(());
    };
    let text = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)
}
