#!/usr/bin/env bash
# The main job: a batch from audience to bill on the bundled sample of 1,000 customers
# (examples/batch_preview.rs): filter -> PostgREST/SQL, flag check, per-recipient preview and cost.
# Needs only cargo; the first run compiles the crate in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release --example batch_preview
