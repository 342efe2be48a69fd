#!/usr/bin/env bash
# Profiles the server during sync-bench's many-device push alone (the "server apply" figure).
#
#   scripts/profile-apply.sh callgrind [DEVICES]   instructions of every thread (deterministic:
#                                                  compare builds by it on a noisy machine)
#   scripts/profile-apply.sh perf [DEVICES]        CPU samples with call stacks (kernel included)
#
# DEVICES defaults to 200 under callgrind (it runs ~50x slower) and 1000 under perf. The output
# lands in target/profile-apply/. Needs valgrind or perf (apt install valgrind linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
tool="${1:-callgrind}"
out=target/profile-apply
mkdir -p "$out"
cargo build --release -q -p fieldsync-tests --bin sync-bench
bench=(target/release/sync-bench --customers 20 --no-fairness --mark-apply)
log="$out/stderr.txt"
: >"$log"

wait_for() {
  until grep -q "apply phase: $1" "$log"; do
    kill -0 "$pid" 2>/dev/null || { echo "sync-bench ended early; see $log" >&2; exit 1; }
    sleep 0.05
  done
}

case "$tool" in
  callgrind)
    devices="${2:-200}"
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/callgrind.out" \
      "${bench[@]}" --devices "$devices" 2>"$log" >"$out/report.md" &
    pid=$!
    wait_for start
    sleep 1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    wait_for end
    callgrind_control -i off "$pid" >/dev/null 2>&1
    wait "$pid"
    grep "server apply" "$out/report.md" || true
    total=$( (callgrind_annotate "$out/callgrind.out" 2>/dev/null || true) | awk '/PROGRAM TOTALS/ {print $1; exit}')
    echo "instructions in the push phase: $total ($devices requests); by function: callgrind_annotate --inclusive=yes $out/callgrind.out"
    ;;
  perf)
    devices="${2:-1000}"
    fifo="$out/perf.ctl" ack="$out/perf.ack"
    rm -f "$fifo" "$ack"
    mkfifo "$fifo" "$ack"
    perf record -e cpu-clock -F 4000 --call-graph dwarf,16384 --control="fifo:$fifo,$ack" -D -1 \
      -o "$out/perf.data" "${bench[@]}" --devices "$devices" 2>"$log" >"$out/report.md" &
    pid=$!
    exec 3<>"$fifo" 4<>"$ack"
    wait_for start
    sleep 1
    echo enable >&3 && read -r -t 5 _ <&4
    wait_for end
    echo disable >&3 && read -r -t 5 _ <&4
    wait "$pid"
    grep "server apply" "$out/report.md" || true
    echo "samples: perf report -i $out/perf.data --no-children"
    ;;
  *)
    echo "usage: $0 callgrind|perf [DEVICES]" >&2
    exit 2
    ;;
esac
