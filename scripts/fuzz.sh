#!/usr/bin/env bash
# Builds and runs every fuzz target (cargo-fuzz, libFuzzer) for a fixed budget each, prints the
# executions libFuzzer reports per target, and fails if any target crashed, naming the artifact.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     default 20; e.g. scripts/fuzz.sh 600 for a long run
#
# Environment:
#   FUZZ_TARGETS="server_push device_apply"  run only these targets
#   FUZZ_TOOLCHAIN=stable                    use this toolchain (default: nightly when rustup has
#                                            it, else the default one with RUSTC_BOOTSTRAP=1)
#   FUZZ_SANITIZER=none                      address (default; falls back to none if it fails to
#                                            build) or none
#   FUZZ_ARGS="-jobs=2"                      extra libFuzzer flags
#   FUZZ_TARGET_DIR=fuzz/target-stable       build here instead of fuzz/target
#
# The fixture (a server store and a tablet's store seeded by real syncs) and the seed corpora are
# written afresh on every run by the seed_corpus binary; what the fuzzer finds is kept under
# fuzz/corpus/<target>, crashes under fuzz/artifacts/<target>. The build has its own target dir
# (fuzz/target), so it never waits for the main workspace's build lock.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds="${1:-20}"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS_PER_TARGET must be a number, got '$seconds'" >&2; exit 2; }
all_targets=(frame_decode server_push server_reconcile device_apply)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "fuzz.sh: '$1' is required: $2" >&2; exit 2; }
}
need cargo "install Rust with rustup: https://rustup.rs"
# libfuzzer-sys compiles libFuzzer (C++); the bundled SQLCipher and OpenSSL need cc and perl.
need c++ "install a C++ toolchain (Debian: apt-get install -y build-essential)"
need perl "install perl (Debian: apt-get install -y perl)"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# libFuzzer and the sanitizers need unstable flags: nightly if there is one, else the stable
# compiler told to accept them.
toolchain=()
if [[ -n "${FUZZ_TOOLCHAIN:-}" ]]; then
  toolchain=("+$FUZZ_TOOLCHAIN")
  [[ "$FUZZ_TOOLCHAIN" == nightly* ]] || export RUSTC_BOOTSTRAP=1
elif command -v rustup >/dev/null 2>&1 && rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
echo "== toolchain: $(cargo "${toolchain[@]}" --version)${RUSTC_BOOTSTRAP:+ (RUSTC_BOOTSTRAP=1)}"

sanitizer="${FUZZ_SANITIZER:-address}"
target_dir="${FUZZ_TARGET_DIR:-$root/fuzz/target}"
build() {
  cargo "${toolchain[@]}" fuzz build --fuzz-dir fuzz --target-dir "$target_dir" --sanitizer "$1"
}
echo "== cargo fuzz build (sanitizer: $sanitizer)"
started=$SECONDS
if ! build "$sanitizer"; then
  [[ "$sanitizer" == none ]] && { echo "fuzz.sh: the fuzz build failed" >&2; exit 1; }
  echo "fuzz.sh: the build with sanitizer '$sanitizer' failed; building without a sanitizer" >&2
  sanitizer=none
  build none
fi
echo "== built in $((SECONDS - started)) s"

host=$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')
bin="$target_dir/$host/release"

echo "== fixture and seed corpora from real syncs"
"$bin/seed_corpus" "$root/fuzz/fixture" "$root/fuzz/corpus"

declare -A execs rate result
failed=()
for target in "${targets[@]}"; do
  [[ -x "$bin/$target" ]] || { echo "fuzz.sh: no such target: $target" >&2; exit 2; }
  corpus="$root/fuzz/corpus/$target"
  artifacts="$root/fuzz/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  log="$root/fuzz/artifacts/$target.log"
  echo "== $target: $seconds s"
  # -timeout: one input taking this long is itself a finding (a request that stalls the server).
  # shellcheck disable=SC2086
  set +e
  "$bin/$target" "$corpus" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1
  status=$?
  set -e
  execs[$target]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate[$target]=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [[ $status -eq 0 ]]; then
    result[$target]=ok
    tail -n 3 "$log" | sed 's/^/   /'
  else
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    result[$target]="CRASH ${artifact:-(no artifact; see $log)}"
    failed+=("$target")
    # The panic or sanitizer report, then libFuzzer's own lines about the crash.
    grep -m1 -A12 -E "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer|==ERROR" "$log" | sed 's/^/   /' || true
    echo "   artifact: ${artifact:-none}; full log: $log"
    echo "   reproduce: $bin/$target $artifact"
    echo "   minimize:  cargo ${toolchain[*]} fuzz tmin --fuzz-dir fuzz --target-dir $target_dir --sanitizer $sanitizer $target $artifact"
  fi
done

echo "== fuzzing summary ($seconds s per target, sanitizer: $sanitizer)"
printf '%-18s %14s %10s  %s\n' target executions exec/s result
for target in "${targets[@]}"; do
  printf '%-18s %14s %10s  %s\n' "$target" "${execs[$target]:-?}" "${rate[$target]:-?}" "${result[$target]}"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: crashed: ${failed[*]}" >&2
  exit 1
fi
