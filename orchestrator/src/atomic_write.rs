//! Files that are whole or absent: written under a `.partial` name, then renamed.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `dir/name.ivf` -> `dir/name.ivf.partial`.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Writes `bytes` to `path` through `path.partial`, so that `path` is whole or absent.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = partial_path(path);
    let written = fs::write(&partial, bytes)
        .with_context(|| format!("cannot write {}", partial.display()))
        .and_then(|()| {
            fs::rename(&partial, path).with_context(|| {
                format!("cannot rename {} to {}", partial.display(), path.display())
            })
        });
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_path_appends_a_suffix() {
        assert_eq!(
            partial_path(Path::new("out/clip.ivf")),
            PathBuf::from("out/clip.ivf.partial")
        );
    }

    #[test]
    fn a_written_file_has_its_final_name_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_atomically(&path, b"bytes").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"bytes");
        assert!(!partial_path(&path).exists());
        let error = write_atomically(&dir.path().join("no/such/dir/state"), b"x").unwrap_err();
        assert!(format!("{error:#}").contains("state.partial"), "{error:#}");
    }
}
