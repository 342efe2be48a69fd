"""The same calls as `cargo bench -p fieldsync-ffi --bench boundary`, through the generated Python
bindings: a list of 50 customers and a visit write, on a store of 500 customers built the same
way. Prints the median and the spread of each; compare with the Rust bench's figures. The Rust
bench builds the store (a signed-in store can only come from a server or from Rust) and leaves it
in target/boundary-fixture/; this script opens that file, through the release library (the package
beside it holds the debug one the tests use, so it runs from a copy).

    cargo bench -p fieldsync-ffi --bench boundary
    cargo build --release -p fieldsync-ffi --lib && python3 mobile-bindings/python/bench_boundary.py
"""

import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def release_package():
    """A copy of the fieldsync package with the release library in it; the directory to import from."""
    lib = os.path.join(ROOT, "target", "release", "libfieldsync_ffi.so")
    if not os.path.exists(lib):
        sys.exit(f"no release library at {lib}: run `cargo build --release -p fieldsync-ffi --lib` first")
    copy = tempfile.mkdtemp(prefix="fieldsync-bench-")
    atexit.register(shutil.rmtree, copy, True)
    shutil.copytree(os.path.join(HERE, "fieldsync"), os.path.join(copy, "fieldsync"),
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    shutil.copy(lib, os.path.join(copy, "fieldsync"))
    return copy


sys.path.insert(0, release_package())
import fieldsync as fs  # noqa: E402

CUSTOMERS = 500
NOW = 1_753_056_000_000
ROUNDS = 7
CALLS = 200


def timed(call, calls=CALLS, rounds=ROUNDS):
    """Median and range of the per-call time over `rounds` rounds of `calls` calls, in µs."""
    per_call = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        per_call.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(per_call), min(per_call), max(per_call)


def main():
    path = os.environ.get("FIELDSYNC_BENCH_STORE") or os.path.join(ROOT, "target", "boundary-fixture", "tablet.db")
    if not os.path.exists(path):
        sys.exit(f"no fixture at {path}: run `cargo bench -p fieldsync-ffi --bench boundary` first")
    device = fs.FieldsyncDevice.open(path, None)
    query = fs.CustomerQuery(owner=fs.OwnerFilter.ANYONE())
    page = device.customers(query, 50, None)
    assert len(page.items) == 50
    customer = page.items[0].customer_id
    visit = device.customer_360(customer).visits[0].id
    n = [0]

    def write():
        n[0] += 1
        device.update_visit(customer, visit, fs.VisitDetails(notes=f"第{n[0]}次修改"))

    for label, call, calls in [
        ("list 50 customers through the Python bindings", lambda: device.customers(query, 50, None), CALLS),
        ("visit write through the Python bindings", write, 50),
    ]:
        median, low, high = timed(call, calls)
        print(f"{label}: median {median:.1f} µs per call ({low:.1f}–{high:.1f} over {ROUNDS} rounds of {calls})")


if __name__ == "__main__":
    main()
