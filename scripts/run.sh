#!/usr/bin/env bash
# The main job: count the segments of the sample messages with the `smsbatch` command line, first
# message by message, then the totals. Needs only cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --features cli --bin smsbatch
bin=target/release/smsbatch
echo "== segments of each sample message"
python3 -c 'import json,sys; [print(json.dumps(m, ensure_ascii=False)) for m in json.load(open(sys.argv[1]))]' \
  examples/data/messages.json | "$bin" segments --smart-encoding
echo "== totals"
"$bin" segments --input examples/data/messages.json --summary
