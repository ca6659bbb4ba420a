//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// Path of a file under `tests/data/`.
#[allow(dead_code)]
pub fn data_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// Contents of a file under `tests/data/`.
#[allow(dead_code)]
pub fn data(rel: &str) -> String {
    let path = data_path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}
