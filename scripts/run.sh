#!/usr/bin/env bash
# The main job: a whole campaign from audience to report on the embedded in-memory store with
# 10,000 generated sample customers (`smsbatch campaign`, src/bin/smsbatch/campaign.rs): the
# filter as PostgREST and SQL, the preview with its exact cost, the rollout flag, the batch, sending
# through the fake provider under the rate limit with a progress bar, verification, the report and
# the CSV export (written under target/campaign). Arguments are passed on, e.g.
# `./scripts/run.sh --customers 2000`, `./scripts/run.sh --database-url postgres://...`,
# `./scripts/run.sh --help`. Needs only cargo; the first run compiles in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec cargo run --quiet --release --features cli --bin smsbatch -- campaign --out "$target_dir/campaign" "$@"
