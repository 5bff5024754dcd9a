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
#include "answer_reader.hpp"

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

void read_http_answer(benchmark::State& state) {
    // What nginx sends back, through the engine's reader (headers kept only if needed).
    const std::string answer =
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 14:00:00 GMT\r\n"
        "Content-Type: application/json\r\nContent-Length: 35\r\nConnection: keep-alive\r\n\r\n"
        R"({"error_code":"0","error_msg":"OK"})";
    detail::answer_fields fields;
    for (auto _ : state) {
        detail::answer_reader reader(fields, false);
        boost::beast::error_code ec;
        std::size_t used = reader.put(boost::asio::buffer(answer), ec);
        used += reader.put(boost::asio::buffer(answer.data() + used, answer.size() - used), ec);
        benchmark::DoNotOptimize(used);
        benchmark::DoNotOptimize(fields.status);
    }
}
BENCHMARK(read_http_answer);

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
