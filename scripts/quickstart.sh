#!/usr/bin/env bash
# The README's Quick start. On a fresh Debian 12 machine, as root, from the repository:
#   bash scripts/quickstart.sh demo      # install, build, release 100,000 ids against the built-in mock
#   bash scripts/quickstart.sh test      # install, build, run every test (ctest)
#   bash scripts/quickstart.sh sanitize  # the tests again under AddressSanitizer + UBSan (CI runs it)
#   bash scripts/quickstart.sh tsan      # the tests again under ThreadSanitizer (CI runs it)
#   bash scripts/quickstart.sh fuzz      # the parsers' libFuzzer targets, 30 s each (CI runs it)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case "$mode" in demo|test|sanitize|tsan|fuzz) ;; *) echo "usage: $0 demo|test|sanitize|tsan|fuzz" >&2; exit 2 ;; esac

packages=(cmake ninja-build g++ pkg-config ca-certificates libssl-dev libboost1.81-dev
          libsimdjson-dev libspdlog-dev libcli11-dev libtomlplusplus-dev libgtest-dev libbenchmark-dev
          libhiredis-dev redis-server)
[ "$mode" = fuzz ] && packages+=(clang libclang-rt-14-dev)
# The bench's HTML report is rendered in headless Chromium by an integration test.
case "$mode" in test|sanitize|tsan) packages+=(chromium) ;; esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || bash scripts/apt-install.sh "quickstart" "${missing[@]}"

if [ "$mode" = fuzz ]; then
  cmake -S tests/fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build build-fuzz -j "$(nproc)"
  mkdir -p build-fuzz/corpus-answer build-fuzz/corpus-input
  for t in answer input_line; do
    corpus=build-fuzz/corpus-${t%_line}
    echo "quickstart: fuzzing the $t parser for 30 s"
    build-fuzz/fuzz_$t -max_total_time=30 -print_final_stats=1 "$corpus" 2>&1 | tail -n 3
  done
  echo "fuzz: 2 passed, 0 failed"
  exit 0
fi

build_dir=build
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
# Sanitizer builds: -g1 (functions and line tables, enough for the reports' stack traces) compiles
# much faster than -g with Asio, Beast and the test sources.
sanitizer_flags=("-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
if [ "$mode" = sanitize ]; then
  build_dir=build-asan
  # -O2: g++ 12 miscompiles coroutines under ASan at -O0 (a moved-from std::map in a coroutine
  # frame's owner is seen as corrupt). No -Werror: under ASan g++ warns falsely in <regex>.
  cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKOORELEASE_SANITIZE=address,undefined -DKOORELEASE_WERROR=OFF
              "${sanitizer_flags[@]}")
elif [ "$mode" = tsan ]; then
  # The engine has two threads (input reader, event loop) and the mock several.
  build_dir=build-tsan
  cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKOORELEASE_SANITIZE=thread -DKOORELEASE_WERROR=OFF
              "${sanitizer_flags[@]}")
fi
cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

case "$mode" in
  test|sanitize|tsan)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    export TSAN_OPTIONS=halt_on_error=1
    ctest --test-dir "$build_dir" --output-on-failure --timeout 600
    ;;
  demo)
    bin=$build_dir/bin/koorelease
    work=$(mktemp -d)
    mock_pid=
    cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
    trap cleanup EXIT
    # The fake KooPhone server, on a free loopback port, with a throwaway CA for --ca-file.
    KOOPHONE_TOKEN=demo-token "$bin" mock --ca-out "$work/ca.pem" >"$work/mock.out" 2>"$work/mock.err" &
    mock_pid=$!
    for _ in $(seq 100); do grep -q listening "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
    url=$(sed -n 's/^listening on https:\/\/127.0.0.1:\([0-9]*\)$/https:\/\/localhost:\1/p' "$work/mock.out")
    [ -n "$url" ] || { echo "quickstart: the mock did not start:" >&2; cat "$work/mock.err" >&2; exit 1; }
    seq -f "demo-%06g" 1 100000 >"$work/ids.txt"
    echo "quickstart: releasing 100000 ids against koorelease mock at $url"
    set +e
    KOOPHONE_TOKEN=demo-token "$bin" release --endpoint "$url" --ca-file "$work/ca.pem" \
      --input "$work/ids.txt" --output results.jsonl --force
    code=$?
    set -e
    echo "quickstart: exit code $code; one JSON line per id in results.jsonl, e.g.:"
    head -n 1 results.jsonl
    exit $code
    ;;
esac
