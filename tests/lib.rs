//! The one integration-test binary: each module tests one area against the files in `tests/data/`.

mod flags;
mod support;
