#!/usr/bin/env bash
# wasio-host's wasmtime settings, measured: the same guests under each variant of the host, in
# alternation, with the load generator of `bench` (every byte checked, the server's CPU from
# /proc). Prints one markdown table of medians; BENCHMARKS.md holds a run and the choices made.
#
#   cargo run --release -p wasio-benches --bin bench -- --quick sizes   # builds what this needs
#   benches/host-settings.sh [ROUNDS]
#
# Variants: the default (current-thread tokio runtime, on-demand instances), `--runtime
# multi-thread`, and `--pooling`. Workloads: echo C=50 and C=500 at 64 B (wasio-echo and the raw
# wasi:io/poll loop), and the start of a component with the compiled-component cache (an
# instantiation: what the pooling allocator is for).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
HOST=${WASIO_HOST:-target/release/wasio-host}
LOADGEN=target/release/loadgen
GUESTS=target/bench-guests/wasm32-wasip2/release
for f in "$HOST" "$LOADGEN" "$GUESTS/wasio-echo.wasm" "$GUESTS/raw-echo.wasm"; do
    [ -e "$f" ] || { echo "missing $f: build it first (see the header)" >&2; exit 1; }
done
PIN=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then PIN="taskset -c 0"; fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

variants=("default:" "multi-thread:--runtime multi-thread" "pooling:--pooling")

echo_run() { # variant-flags guest conns -> one JSON line
    local flags=$1 guest=$2 conns=$3 log="$OUT/server.log"
    # shellcheck disable=SC2086
    $PIN "$HOST" $flags run "$GUESTS/$guest.wasm" 127.0.0.1:0 >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 200); do grep -q 'listening on' "$log" && break; sleep 0.05; done
    local addr
    addr=$(sed -n 's/.*listening on //p' "$log" | head -1)
    "$LOADGEN" --addr "$addr" --conns "$conns" --size 64 --warmup 0.5 --secs 2 --server-pid "$pid"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

start_run() { # variant-flags -> milliseconds to start a cached component and see it fail
    local flags=$1 t0 t1
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    "$HOST" $flags run "$GUESTS/raw-echo.wasm" not-an-address >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}

for r in $(seq "$ROUNDS"); do
    for v in "${variants[@]}"; do
        name=${v%%:*}; flags=${v#*:}
        for guest in wasio-echo raw-echo; do
            for conns in 50 500; do
                echo "round $r: $name $guest C=$conns" >&2
                echo_run "$flags" "$guest" "$conns" >>"$OUT/$name.$guest.$conns"
            done
        done
        start_run "$flags" >/dev/null # fill the cache for these settings
        for _ in 1 2 3; do start_run "$flags" >>"$OUT/$name.start"; done
    done
done

python3 - "$OUT" "${variants[@]%%:*}" <<'EOF'
import json, statistics, sys
out, names = sys.argv[1], sys.argv[2:]
def med(xs): return statistics.median(xs)
print("| host variant | guest | C | rt/s | CPU µs/rt | slowest/fastest | CPU vs default |")
print("|---|---|--:|--:|--:|--:|--:|")
base = {}
for name in names:
    for guest in ("wasio-echo", "raw-echo"):
        for c in (50, 500):
            rows = [json.loads(l) for l in open(f"{out}/{name}.{guest}.{c}")]
            cpu = med([x["cpu_ns_per_rt"] / 1000 for x in rows])
            rts = med([x["rt_per_sec"] for x in rows])
            fair = med([x["slowest"] / max(x["fastest"], 1) for x in rows])
            base.setdefault((guest, c), cpu)
            print(f"| {name} | {guest} | {c} | {rts:,.0f} | {cpu:.2f} | {fair:.2f} | {cpu / base[(guest, c)]:.2f}× |")
print()
print("| host variant | start of a cached component, ms (median) |")
print("|---|--:|")
for name in names:
    print(f"| {name} | {med([int(l) for l in open(f'{out}/{name}.start')])} |")
EOF
