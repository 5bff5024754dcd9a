// Micro-benchmarks of the per-request hot path: building a request, reading an answer,
// drawing a request id, formatting a journal record, remembering an id. Each is reported next
// to a reference measured in the same run (copying the request's bytes), since these machines
// are shared and an absolute time alone says little:
//   build/bin/bench_hot_path --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <string>

#include "koorelease/classify.hpp"
#include "koorelease/id_set.hpp"
#include "koorelease/journal.hpp"
#include "koorelease/request.hpp"
#include "koorelease/request_id.hpp"
#include "koorelease/response.hpp"

namespace {

using namespace koorelease;

const std::string token(2048, 'M');  // a PKI token is several KB

endpoint bench_endpoint() {
    endpoint ep;
    ep.host = "koophone.myhuaweicloud.com";
    return ep;
}

void reference_copy_request(benchmark::State& state) {
    request_builder b(bench_endpoint(), token, "koorelease/bench");
    request_id id{};
    std::string request;
    b.build(request, id, "iRJEVP96");
    std::string copy(request.size(), '\0');
    for (auto _ : state) {
        std::memcpy(copy.data(), request.data(), request.size());
        benchmark::DoNotOptimize(copy.data());
        benchmark::ClobberMemory();
    }
}
BENCHMARK(reference_copy_request);

void build_request(benchmark::State& state) {
    request_builder b(bench_endpoint(), token, "koorelease/bench");
    request_id id{};
    std::string request;
    for (auto _ : state) {
        b.build(request, id, "iRJEVP96");
        benchmark::DoNotOptimize(request.data());
    }
}
BENCHMARK(build_request);

void draw_request_id(benchmark::State& state) {
    request_id_generator g;
    for (auto _ : state) benchmark::DoNotOptimize(g.next());
}
BENCHMARK(draw_request_id);

void parse_and_classify_answer(benchmark::State& state) {
    answer_parser p;
    std::string body;
    for (auto _ : state) {
        body.assign(R"({"error_code":"0","error_msg":"OK"})");
        const auto parsed = p.parse(body);
        benchmark::DoNotOptimize(classify(200, parsed ? &*parsed : nullptr));
    }
}
BENCHMARK(parse_and_classify_answer);

void format_journal_record(benchmark::State& state) {
    request_id ids[1] = {};
    outcome_record r;
    r.instance_id = "iRJEVP96";
    r.outcome = outcome::released;
    r.attempts = 1;
    r.http_status = 200;
    r.error_code = "0";
    r.error_msg = "OK";
    r.request_ids = ids;
    r.latency_ms = 1.25;
    r.finished_at = std::chrono::system_clock::now();
    std::string out;
    for (auto _ : state) {
        out.clear();
        format_record(out, r);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(format_journal_record);

void remember_id(benchmark::State& state) {
    id_set s;
    std::uint64_t n = 0;
    char text[24];
    for (auto _ : state) {
        const int len = std::snprintf(text, sizeof text, "i-%012llu", static_cast<unsigned long long>(n++));
        benchmark::DoNotOptimize(s.insert(std::string_view(text, static_cast<std::size_t>(len))));
    }
    state.counters["bytes_per_id"] = static_cast<double>(s.memory_bytes()) / static_cast<double>(s.size());
}
BENCHMARK(remember_id);

}  // namespace

BENCHMARK_MAIN();
