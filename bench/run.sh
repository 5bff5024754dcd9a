#!/usr/bin/env bash
# Side-by-side benchmark (issue 4): koorelease against wrk, h2load, curl --parallel and aiohttp,
# against Debian's nginx and against koorelease mock, all on loopback. On a fresh Debian 12
# machine, as root, from the repository:
#   bash bench/run.sh                 # 3 rounds of 5 s a client, about 10-15 minutes on 2 cores
#   bash bench/run.sh --tiny          # CI smoke test: 1 round of 1 s, small counts, under 2 minutes
#   bash bench/run.sh --rounds 5 --duration 10 --clients koorelease,wrk --out /tmp/bench
# It installs what is missing, builds a Release build in build-bench/, then bench/compare.py does
# the rest (see its docstring for what is measured and how) and prints the Markdown table, then
# bench/queue_bench.py compares the Redis queue mode with file mode (results in a queue/ subfolder).
# The results go to bench/results/<UTC date-time>/ (or --out DIR). Exit code 0 only if every run
# succeeded.
set -euo pipefail
cd "$(dirname "$0")/.."

case " $* " in
  *" -h "*|*" --help "*) exec /usr/bin/python3 bench/compare.py --help ;;
esac

packages=(cmake ninja-build g++ pkg-config ca-certificates libssl-dev libboost1.81-dev
          libsimdjson-dev libspdlog-dev libcli11-dev libtomlplusplus-dev libbenchmark-dev
          nginx-light wrk nghttp2-client curl python3 python3-aiohttp util-linux openssl redis-server)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${packages[@]}"; do
  # Any Debian nginx flavour will do (nginx-light is the smallest).
  if [ "$p" = nginx-light ] && { installed nginx || installed nginx-core || installed nginx-full ||
                                 installed nginx-extras; }; then continue; fi
  installed "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || bash scripts/apt-install.sh "bench" "${missing[@]}"

# The build: build-bench/, or an existing Release build given with --build-dir (CI passes the
# one its tests just used, to save a build). The results folder: --out, or a new one here, so
# that the queue benchmark's results go in a subfolder of it.
build_dir=build-bench
out_dir=
tiny=
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = --build-dir ] && [ $((i + 1)) -lt ${#args[@]} ]; then build_dir=${args[$((i + 1))]}; fi
  if [ "${args[$i]}" = --out ] && [ $((i + 1)) -lt ${#args[@]} ]; then out_dir=${args[$((i + 1))]}; fi
  if [ "${args[$i]}" = --tiny ]; then tiny=--tiny; fi
done
out_args=()
if [ -z "$out_dir" ]; then out_dir=bench/results/$(date -u +%Y%m%d-%H%M%S); out_args=(--out "$out_dir"); fi
if [ -f "$build_dir/CMakeCache.txt" ]; then
  type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
  if [ "$type" != Release ]; then
    echo "bench: $build_dir is a '$type' build; benchmarks need a Release build (omit --build-dir to use build-bench/)" >&2
    exit 2
  fi
else
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKOORELEASE_TESTS=OFF >/dev/null
fi
echo "bench: building $build_dir/ (Release)"
targets=(koorelease)
# bench_hot_path exists only if CMake found Google Benchmark (libbenchmark-dev, installed above).
if ninja -C "$build_dir" -t targets all 2>/dev/null | grep -q '^bench_hot_path:'; then targets+=(bench_hot_path); fi
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}"

# compare.py stops every process it starts, also on errors and signals, and the servers die
# with it (PR_SET_PDEATHSIG). Belt and braces if it is killed outright: nginx's worker would
# outlive its master, and the client running at the time would run to its end. While they run,
# compare.py keeps their ids in the scratch folder (and removes each file once it has stopped
# and reaped that process): each server leads its own process group; stop those, and the client.
work=$(mktemp -d -t koorelease-bench-XXXXXX)
cleanup() {
  for f in "$work/nginx.pid" "$work/mock.pid"; do
    if [ -s "$f" ]; then kill -KILL -- "-$(cat "$f")" 2>/dev/null || true; fi
  done
  if [ -s "$work/client.pid" ]; then kill -KILL "$(cat "$work/client.pid")" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export BENCH_INVOCATION="bash bench/run.sh${*:+ $*}"
set +e
/usr/bin/python3 bench/compare.py --work-dir "$work" "${out_args[@]}" "$@"
code=$?
# The Redis queue mode next to file mode (bench/queue_bench.py: its own redis-server and mock,
# stopped with it, also if it is killed outright).
/usr/bin/python3 bench/queue_bench.py $tiny --build-dir "$build_dir" --out "$out_dir/queue"
queue_code=$?
if [ "$code" -eq 0 ]; then code=$queue_code; fi
set -e
exit $code
