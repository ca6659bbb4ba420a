#!/usr/bin/env bash
# Runs every test of the project on a fresh machine or an old one: installs what is missing
# (idempotently, quickly when present), then format, lints, tests, docs, feature combinations and
# the WebAssembly build. `.ci/run` calls this; so should you before a commit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
installed=$(rustup component list --installed)
for c in rustfmt clippy; do
  grep -q "^$c" <<<"$installed" || rustup component add "$c"
done
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

# Database tests skip (saying so) without a server, except here: a missing database fails CI.
export SMSBATCH_REQUIRE_DB=1

step "postgresql"
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test (all features)"
cargo test --workspace --all-features

step "cargo test without default features (no phone metadata, as the WebAssembly build)"
cargo test -p smsbatch --no-default-features --lib --tests

step "cargo doc (broken links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps

step "each feature on its own (no dev-dependencies)"
features=$(sed -n '/^\[features\]/,/^\[/p' Cargo.toml | grep -oE '^[a-z0-9_-]+ *=' | tr -d ' =' | grep -vx default)
cargo check -p smsbatch --lib --no-default-features
for f in $features; do
  cargo check -p smsbatch --no-default-features --features "$f"
done

step "core for wasm32-unknown-unknown (default features off)"
cargo build -p smsbatch --lib --no-default-features --target wasm32-unknown-unknown

step "browser for the WebAssembly tests (Debian chromium + chromedriver)"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi

step "WebAssembly package: build (web + nodejs targets, wasm-opt)"
./bindings/wasm/build.sh

step "WebAssembly package: node tests (the spec files through the package)"
(cd bindings/wasm && node --test tests/)

step "WebAssembly glue: clippy for wasm32 (the browser tests compile only there)"
cargo clippy --quiet -p smsbatch-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings

step "WebAssembly glue: wasm-bindgen-test in headless Chromium"
(cd bindings/wasm && CHROMEDRIVER=/usr/bin/chromedriver \
  cargo test -p smsbatch-wasm --target wasm32-unknown-unknown)

step "WebAssembly package: the demo page and the web app in headless Chromium (playwright-core, axe-core)"
# The web app's flow runs `smsbatch serve` (built by the tests above with every feature) on the
# in-memory store and on a fresh PostgreSQL database.
cargo build --quiet --all-features --bin smsbatch
# That binary, wherever cargo puts build output (CARGO_TARGET_DIR), as cargo metadata says.
target_dir=$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))')
(cd bindings/wasm && SMSBATCH_BIN="$target_dir/debug/smsbatch" node --test --test-concurrency=1 browser/)

step "done: every check passed"
echo "$root"
