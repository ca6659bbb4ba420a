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

cargo build --quiet -p smsbatch-wasm --target wasm32-unknown-unknown --profile wasm-release
wasm="$root/target/wasm32-unknown-unknown/wasm-release/smsbatch_wasm.wasm"

rm -rf pkg
mkdir -p pkg
wasm-bindgen --target web --out-dir pkg/web --out-name smsbatch "$wasm"
wasm-bindgen --target nodejs --out-dir pkg/node --out-name smsbatch "$wasm"
for target in web node; do
  node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers \
    "pkg/$target/smsbatch_bg.wasm" -o "pkg/$target/smsbatch_bg.wasm"
done
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
