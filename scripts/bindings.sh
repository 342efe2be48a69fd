#!/usr/bin/env bash
# Builds fieldsync-ffi and writes its Kotlin, Swift and Python bindings into mobile-bindings/,
# with the workspace's own uniffi-bindgen (the same uniffi version as the scaffolding).
#
#   scripts/bindings.sh            regenerate (commit the result: apps read the API from it)
#   scripts/bindings.sh --check    fail if the committed bindings differ from the library's
#
# The generated sources are committed: an app developer reads and reviews the API without
# building Rust, the Swift sources have no toolchain here to come from, and --check in the test
# command keeps them equal to the library. The built library is copied next to the Python
# package (not committed) for the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
[[ "${1:-}" == "--check" ]] && check=true

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cargo build -q -p fieldsync-ffi --lib --locked
lib="$target_dir/debug/libfieldsync_ffi.so"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for language in kotlin python; do
  cargo run -q -p fieldsync-ffi --features bindgen --bin uniffi-bindgen --locked -- \
    generate "$lib" --language "$language" --out-dir "$out/$language" --no-format >/dev/null
done
# Swift: both namespaces' C headers under one module map (FieldsyncFFI), as an XCFramework's
# Headers folder holds them; the Swift sources beside it.
cargo run -q -p fieldsync-ffi --features bindgen --bin uniffi-bindgen-swift --locked -- \
  --swift-sources --headers --modulemap --xcframework --module-name FieldsyncFFI \
  --modulemap-filename module.modulemap "$lib" "$out/swift-all" >/dev/null
mkdir -p "$out/swift/Sources/Fieldsync" "$out/swift/Headers"
mv "$out"/swift-all/*.swift "$out/swift/Sources/Fieldsync/"
mv "$out"/swift-all/* "$out/swift/Headers/"

# Where each language's generated files live in mobile-bindings/.
declare -A dest=(
  [kotlin]=mobile-bindings/kotlin/src/main/kotlin
  [swift]=mobile-bindings/swift
  [python]=mobile-bindings/python/fieldsync
)
stale=()
for language in kotlin swift python; do
  target=${dest[$language]}
  if $check; then
    # Compare file by file (the Python package also holds its __init__.py and the copied library).
    while IFS= read -r file; do
      if ! cmp -s "$out/$language/$file" "$target/$file"; then
        stale+=("$target/$file")
      fi
    done < <(cd "$out/$language" && find . -type f | sed 's|^\./||' | sort)
  else
    mkdir -p "$target"
    cp -r "$out/$language/." "$target/"
  fi
done
cp "$lib" mobile-bindings/python/fieldsync/

if $check && ((${#stale[@]})); then
  echo "bindings.sh: the committed bindings differ from the library's; run scripts/bindings.sh and commit:" >&2
  printf '  %s\n' "${stale[@]}" >&2
  exit 1
fi
$check && echo "bindings are current" || echo "bindings written to mobile-bindings/"
