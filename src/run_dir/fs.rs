//! The run directory's one edge with the disk: every read and write of its files goes through here, each
//! error naming the path and what was being done.

use std::path::Path;

use anyhow::{Context, Result};

/// The bytes of `path`; `failed` words the error.
pub fn read(path: &Path, failed: impl FnOnce() -> String) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(failed)
}

/// The text of `path`.
pub fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("could not read '{}'", path.display()))
}

/// Writes `contents` to `path`, replacing it.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("could not write '{}'", path.display()))
}

/// Creates `dir` and its parents; `what` says which directory it is.
pub fn create_dir(dir: &Path, what: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create the {what} '{}'", dir.display()))
}

/// Appends `contents` to `path`, creating it; `what` says which file it is.
pub fn append(path: &Path, contents: &[u8], what: &str) -> Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("could not open the {what} '{}'", path.display()))?;
    file.write_all(contents).with_context(|| format!("could not write the {what} '{}'", path.display()))
}
