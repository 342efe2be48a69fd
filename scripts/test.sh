#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy, unit, integration, property and
# crash tests. Installs what it needs, or stops with a precise message.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "test.sh: '$1' is required: $2" >&2; exit 2; }
}

need cargo "install Rust (stable, 1.85 or newer) with rustup: https://rustup.rs"
# A C compiler and perl build the bundled SQLCipher and OpenSSL.
need cc "install a C toolchain (Debian: apt-get install -y build-essential)"
need perl "install perl (Debian: apt-get install -y perl)"
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    need rustup "install the $component component: rustup component add $component"
    rustup component add "$component"
  fi
done

# The supervisor pages' browser tests (tests/tests/browser.rs) drive Debian's Chromium.
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
  need apt-get "install Chromium and its driver: apt-get install -y chromium chromium-driver"
  echo "== installing chromium and chromium-driver for the browser tests"
  install_chromium() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }
  install_chromium || { apt-get update -q >/dev/null && install_chromium; } \
    || { echo "test.sh: apt-get install -y chromium chromium-driver failed; the browser tests need them" >&2; exit 2; }
fi

# PostgreSQL's server binaries, for the PostgreSQL store's tests: each test binary runs its own
# throwaway cluster (initdb into a temporary folder, its own port), never a system cluster.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v pg_config >/dev/null; then
  need apt-get "install PostgreSQL's server: apt-get install -y postgresql"
  echo "== installing postgresql for the PostgreSQL store's tests"
  install_postgres() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
  install_postgres || { apt-get update -q >/dev/null && install_postgres; } \
    || { echo "test.sh: apt-get install -y postgresql failed; the PostgreSQL store's tests need it" >&2; exit 2; }
fi
if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
  echo "test.sh: running as root, PostgreSQL needs a 'postgres' system user to run as (apt-get install -y postgresql creates it)" >&2
  exit 2
fi
# Installing the package may start Debian's own cluster: the tests do not use it.

# CI builds once from scratch: incremental compilation's caches would only take disk and time.
if [[ -n "${CI:-}" ]]; then
  export CARGO_INCREMENTAL=0
fi

# Each section says how long the run has taken so far (CI must stay under 40 minutes).
section() { echo "== [$((SECONDS / 60))m$((SECONDS % 60))s] $*"; }

echo "== cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

section "cargo test --workspace"
cargo test --workspace --locked

# The sync's end-to-end suite (and the attacks on it) again with every server on PostgreSQL; the
# bank rules' stores are checked against both by the conformance tests above (their end-to-end
# tests pass on PostgreSQL too: FIELDSYNC_TEST_STORE=postgres cargo test -p fieldsync-tests --test
# catalog --test duplicates --test territories --test tiers --test targets --test reminders).
section "the sync's end-to-end suite again, on PostgreSQL (a throwaway cluster per test binary)"
FIELDSYNC_TEST_STORE=postgres cargo test -p fieldsync-tests --locked --test flows --test converge --test faults \
  --test attacks --test bad_payloads --test photos --test pool

section "benchmarks compile and run once (figures come from: cargo bench -p fieldsync-core / -p fieldsync-server / -p fieldsync-ffi)"
# --workspace, as above: the same features, so no dependency is built a second time.
cargo test --workspace --benches --locked

section "the sync benchmark runs end to end (small; figures come from: cargo run --release -p fieldsync-tests --bin sync-bench)"
cargo run -q -p fieldsync-tests --bin sync-bench --locked -- --quick

section "the supervisor pages' benchmark runs end to end (small; figures come from: cargo run --release -p fieldsync-tests --bin pages-bench)"
cargo run -q -p fieldsync-tests --bin pages-bench --locked -- --quick

section "mobile bindings: the committed bindings are the library's; Python drives a real server"

need python3 "install Python 3 (Debian: apt-get install -y python3)"
bash scripts/bindings.sh --check
if ! python3 -m pytest --version >/dev/null 2>&1; then
  python3 -m pip install --quiet pytest || { echo "test.sh: pytest is required: python3 -m pip install pytest" >&2; exit 2; }
fi
cargo build -q -p fieldsync-server --locked
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
FIELDSYNC_SERVER="$target_dir/debug/fieldsync-server" python3 -m pytest -q mobile-bindings/python/tests

section "mobile bindings: Kotlin on a real JVM (JNA) against a real server, and the morning example"
if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  need apt-get "install a JDK (17 or newer) and Maven"
  apt-get install -y -q openjdk-17-jdk-headless maven >/dev/null
fi
(cd mobile-bindings/kotlin && mvn -q -B test -Dfieldsync.lib.dir="$target_dir/debug" -Dfieldsync.server="$target_dir/debug/fieldsync-server")

# The fuzz targets build in their own target dir; in CI without AddressSanitizer (the build costs
# half as much, and what CI looks for is panics), 20 s each. Longer, with ASan: scripts/fuzz.sh 600
section "fuzzing, 20 s per target (longer: scripts/fuzz.sh 600)"
if [[ -n "${CI:-}" ]]; then
  FUZZ_SANITIZER="${FUZZ_SANITIZER:-none}" bash scripts/fuzz.sh 20
else
  bash scripts/fuzz.sh 20
fi
