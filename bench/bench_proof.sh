#!/usr/bin/env bash
# The proof figures of `koorelease bench` (issue 7), on this machine, into
# bench/results/issue7-bench/: the open model against a mock that answers in 20 ms and stalls
# 500 ms every 5 s, next to what the closed-loop tools hey and wrk report for the same server,
# and --find-capacity against a mock throttling at 300 requests a second.
#   bash bench/bench_proof.sh [build/bin/koorelease]     # ~5 minutes; needs hey and wrk
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-build/bin/koorelease}")
out=bench/results/issue7-bench
duration=${BENCH_PROOF_DURATION:-60s}
mkdir -p "$out"
work=$(mktemp -d)
mock_pid=
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export KOOPHONE_TOKEN=proof-token-$RANDOM$RANDOM
printf '%s\n' "$KOOPHONE_TOKEN" > "$work/token"

start_mock() {  # args: mock options; sets url, mock_pid
  "$bin" mock --ca-out "$work/ca.pem" --no-track-ids "$@" > "$work/mock.out" 2>&1 &
  mock_pid=$!
  for _ in $(seq 300); do grep -q listening "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'https://[^ ]*' "$work/mock.out") || { echo "bench_proof: the mock did not start:" >&2; cat "$work/mock.out" >&2; exit 1; }
}
stop_mock() { kill "$mock_pid"; wait "$mock_pid" || true; mock_pid=; }
log() { echo "\$ $*" >> "$out/commands.txt"; }

: > "$out/commands.txt"
{ echo "# $(date -u +%FT%TZ) on $(nproc) CPUs, $(uname -r); koorelease $(git rev-parse --short HEAD)"; } >> "$out/commands.txt"

# 1. 20 ms answers, all held for 500 ms every 5 s (10% of the time stalled).
mock_args=(--latency 20ms --stall 500ms --stall-every 5s)
start_mock "${mock_args[@]}"
log koorelease mock --ca-out ca.pem --no-track-ids "${mock_args[@]}"
log koorelease bench --endpoint URL --ca-file ca.pem --rate 500 --duration "$duration" --connections 512 --json open-model.json --html open-model.html
"$bin" bench --quiet --endpoint "$url" --ca-file "$work/ca.pem" --rate 500 --duration "$duration" --connections 512 \
  --json "$out/open-model.json" --html "$out/open-model.html" > "$out/open-model.txt"
# hey: 10 workers at 50 requests/s each (500/s while nothing stalls), closed loop.
log hey -z "$duration" -c 10 -q 50 -o csv -m POST -T application/json -H "x-auth-token: TOKEN" -H "x-request-id: 3f0c1a52-0000-4000-8000-000000000000" -d '{"instance_id":"bench-1"}' URL/v1/instances/session/release
# -o csv: every request's time, for the percentiles hey's summary leaves out (p99.9 and up).
hey -z "$duration" -c 10 -q 50 -o csv -m POST -T application/json -H "x-auth-token: $KOOPHONE_TOKEN" \
  -H "x-request-id: 3f0c1a52-0000-4000-8000-000000000000" -d '{"instance_id":"bench-1"}' \
  "$url/v1/instances/session/release" > "$work/hey.csv"
python3 - "$work/hey.csv" "$duration" > "$out/hey.txt" <<'PY'
import math, sys
rows = [l.split(",") for l in open(sys.argv[1]).read().splitlines()[1:] if l]
t = sorted(float(r[0]) * 1000 for r in rows if r[6].strip() == "200")
seconds = float(sys.argv[2].rstrip("s"))
pick = lambda p: t[max(1, math.ceil(p / 100 * len(t) - 1e-9)) - 1]
print(f"hey: {len(t)} answers (status 200) in {seconds:g} s: {len(t) / seconds:.1f}/s")
print("latency (from each request's actual send, nearest rank, ms): " +
      "  ".join(f"p{p:g} {pick(p):.1f}" for p in (50, 90, 99, 99.9, 99.99)) + f"  max {t[-1]:.1f}")
print(f"answers slower than 100 ms: {sum(v > 100 for v in t)} ({100 * sum(v > 100 for v in t) / len(t):.2f}%)")
PY
# wrk: 10 connections, each sending as soon as its previous answer came (about 500/s), closed loop.
log wrk -t2 -c10 -d"$duration" --latency -s bench/wrk.lua URL -- TOKEN_FILE
wrk -t2 -c10 -d"$duration" --latency -s bench/wrk.lua "$url" -- "$work/token" > "$out/wrk.txt"
stop_mock
# What the injected distribution is: a request arriving uniformly in time has its answer held
# with probability 500/5000 = 10%, and is then answered 20..520 ms after it arrived (uniformly).
python3 - > "$out/expected.txt" <<'PY'
q = lambda p: 20.0 if p <= 90 else 520 - (100 - p) / 10 * 500
print("injected (20 ms, held to the end of a 500 ms stall every 5 s), ms: " +
      "  ".join(f"p{p:g} {q(p):.1f}" for p in (50, 90, 99, 99.9, 99.99)) + "  max 520.0; 10% of answers above 20 ms")
PY

# 2. The capacity search against a mock throttling at 300 requests a second.
start_mock --throttle-rps 300
log koorelease mock --ca-out ca.pem --no-track-ids --throttle-rps 300
log koorelease bench --endpoint URL --ca-file ca.pem --find-capacity --p99 250ms --max-errors 1% --json capacity.json --html capacity.html
"$bin" bench --endpoint "$url" --ca-file "$work/ca.pem" --find-capacity --p99 250ms --max-errors 1% \
  --json "$out/capacity.json" --html "$out/capacity.html" > "$out/capacity.txt" 2> "$out/capacity.steps.txt"
stop_mock

grep -q "$KOOPHONE_TOKEN" "$out"/* && { echo "bench_proof: the token leaked into $out" >&2; exit 1; }
echo "bench_proof: results in $out"
