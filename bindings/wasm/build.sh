#!/usr/bin/env bash
# Builds the npm package into bindings/wasm/pkg/ (web and nodejs targets, size-optimised with
# wasm-opt from npm's binaryen) and prints its sizes. Installs the tools it lacks: the wasm32
# target, wasm-bindgen-cli at the exact version in Cargo.lock, and the npm dev-dependencies.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
root=$(cd ../.. && pwd)

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock")
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
  # --locked would pin a crate version the registry here lacks (see wasm-notes).
  cargo install wasm-bindgen-cli --version "$version" --no-default-features \
    --bin wasm-bindgen --bin wasm-bindgen-test-runner
fi
if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/tsc ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The cdylib alone: Cargo.toml also asks for an rlib (the wasm-bindgen tests link it), and when
# rustc emits both, every public item stays exported to the rlib, so LTO can neither internalise
# nor drop it.
cargo rustc --quiet -p smsbatch-wasm --lib --crate-type cdylib --target wasm32-unknown-unknown \
  --profile wasm-release
# Cargo decides where build output goes (CARGO_TARGET_DIR, build.target-dir in a config file):
# ask it rather than assume `target/`.
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))')
wasm="$target_dir/wasm32-unknown-unknown/wasm-release/smsbatch_wasm.wasm"

rm -rf pkg
mkdir -p pkg
wasm-bindgen --target web --out-dir pkg/web --out-name smsbatch "$wasm"
wasm-bindgen --target nodejs --out-dir pkg/node --out-name smsbatch "$wasm"
# -Oz --converge repeats -Oz until the module stops shrinking; -Os and -O3 gave bigger modules
# (CHANGELOG).
# The two targets get the same module from wasm-bindgen, so it is optimised once when they match.
optimise() { node_modules/.bin/wasm-opt -Oz --converge --strip-debug --strip-producers "$1" -o "$2"; }
if cmp -s pkg/web/smsbatch_bg.wasm pkg/node/smsbatch_bg.wasm; then
  optimise pkg/web/smsbatch_bg.wasm pkg/web/smsbatch_bg.wasm
  cp pkg/web/smsbatch_bg.wasm pkg/node/smsbatch_bg.wasm
else
  for target in web node; do
    optimise "pkg/$target/smsbatch_bg.wasm" "pkg/$target/smsbatch_bg.wasm"
  done
fi
# The nodejs target is CommonJS; the package root is an ES module package.
echo '{"type": "commonjs"}' > pkg/node/package.json
cp package/package.json package/README.md pkg/

size() { wc -c < "$1" | tr -d ' '; }
gz() { gzip -9 -c "$1" | wc -c | tr -d ' '; }
{
  printf 'package sizes (bytes)\n'
  for f in pkg/web/smsbatch_bg.wasm pkg/web/smsbatch.js pkg/web/smsbatch.d.ts; do
    printf '  %-28s raw %8s  gzip %8s\n' "$f" "$(size "$f")" "$(gz "$f")"
  done
  total_raw=$(cat pkg/web/smsbatch_bg.wasm pkg/web/smsbatch.js | wc -c | tr -d ' ')
  total_gz=$(( $(gz pkg/web/smsbatch_bg.wasm) + $(gz pkg/web/smsbatch.js) ))
  printf '  %-28s raw %8s  gzip %8s\n' "web total (wasm + js)" "$total_raw" "$total_gz"
} | tee pkg/SIZES.txt
echo "built $here/pkg"
