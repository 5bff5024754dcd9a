// The shared queue: real redis-server, real `koorelease mock` over TLS, real worker processes.
// What an operator checks after a fleet-wide run: every id has exactly one final result in the
// results stream, nothing is left pending, the dead-letter stream holds the poison and only it.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "koorelease/queue.hpp"

#include "support/mock.hpp"
#include "support/redis_server.hpp"

namespace koorelease::test {
namespace {

using namespace std::chrono_literals;

#define REQUIRE_REDIS()                                                                    \
    do {                                                                                   \
        if (!redis_server::available()) GTEST_SKIP() << redis_server::skip_reason();      \
    } while (0)

std::string field_of(const redis::reply& fields, std::string_view name) {
    for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
        if (fields.elements[i].text == name) return fields.elements[i + 1].text;
    }
    return {};
}

// instance_id -> outcomes in the stream (all of them, so that a test sees a second one).
std::map<std::string, std::vector<std::string>> stream_outcomes(const redis_server& redis, const std::string& stream) {
    std::map<std::string, std::vector<std::string>> out;
    std::string start = "-";
    for (;;) {
        const auto r = redis.command({"XRANGE", stream, start, "+", "COUNT", "5000"});
        if (r.elements.empty()) break;
        for (const auto& e : r.elements) {
            out[field_of(e.elements[1], "instance_id")].push_back(field_of(e.elements[1], "outcome"));
        }
        start = "(" + r.elements.back().elements[0].text;
    }
    return out;
}

long long integer(const redis::reply& r) { return r.integer; }

// The number just before `what` in a worker's summary ("... 12 claimed from idle workers"); -1 if absent.
long long number_before(const std::string& text, std::string_view what) {
    const auto at = text.find(what);
    if (at == std::string::npos || at < 2) return -1;
    auto begin = at - 1;  // the space before `what`
    while (begin > 0 && std::isdigit(static_cast<unsigned char>(text[begin - 1]))) --begin;
    if (begin == at - 1) return -1;
    return std::stoll(text.substr(begin, at - 1 - begin));
}

struct worker_run {
    std::unique_ptr<child> process;
    std::string journal, err;
};

struct fleet {
    const mock_server& mock;
    const temp_dir& dir;
    std::string queue;

    worker_run start(const std::string& name, std::vector<std::string> extra) const {
        worker_run w;
        w.journal = dir.file(name + ".jsonl");
        w.err = dir.file(name + ".err");
        spawn_options o;
        o.args = {"release", "--quiet", "--endpoint", mock.url(), "--ca-file", mock.ca_file(),
                  "--queue", queue + "?consumer=" + name, "--output", w.journal, "--claim-idle", "1s",
                  "--max-deliveries", "3", "--max-attempts", "2", "--backoff-base", "1ms", "--backoff-cap", "5ms"};
        o.args.insert(o.args.end(), extra.begin(), extra.end());
        o.env["KOOPHONE_TOKEN"] = test_token;
        o.stderr_file = w.err;
        w.process = std::make_unique<child>(o);
        return w;
    }

    int enqueue(const std::string& ids_file) const {
        spawn_options o;
        o.args = {"enqueue", "--queue", queue, ids_file};
        o.stderr_file = dir.file("enqueue.err");
        child c(o);
        const auto line = c.read_line(60s);
        EXPECT_TRUE(line.has_value());
        const auto code = c.wait(60s);
        EXPECT_EQ(code, 0) << read_file(dir.file("enqueue.err"));
        return line ? std::stoi(*line) : -1;
    }
};

std::string ids_with_poison(const temp_dir& dir, int n, const std::vector<std::string>& poison) {
    const auto path = write_ids(dir, "q-", n);
    std::ofstream out(path, std::ios::app);
    for (const auto& p : poison) out << p << "\n";
    return path;
}

// What every fleet run must leave: one final result per id, nothing pending, nothing left in
// the stream, exactly the poison in the dead-letter stream.
// `failing`: ids the API refuses for good (the mock's missing- ids): one "failed" result each.
void expect_fleet_done(const redis_server& redis, int n, const std::vector<std::string>& poison,
                       const std::vector<std::string>& failing = {}) {
    const auto results = stream_outcomes(redis, "koo:results");
    EXPECT_EQ(results.size(), static_cast<std::size_t>(n) + poison.size() + failing.size());
    std::size_t as_expected = 0, repeated = 0;
    for (const auto& [id, outcomes] : results) {
        if (outcomes.size() != 1) ++repeated;
        const bool is_poison = std::find(poison.begin(), poison.end(), id) != poison.end();
        const bool is_failing = std::find(failing.begin(), failing.end(), id) != failing.end();
        if (outcomes.front() == (is_poison ? "dead_letter" : is_failing ? "failed" : "released")) ++as_expected;
    }
    EXPECT_EQ(repeated, 0u) << "ids with more than one final result";
    EXPECT_EQ(as_expected, results.size());
    const auto dead = stream_outcomes(redis, "koo:dead");
    std::set<std::string> dead_ids;
    for (const auto& [id, outcomes] : dead) dead_ids.insert(id);
    EXPECT_EQ(dead_ids, std::set<std::string>(poison.begin(), poison.end()));
    EXPECT_EQ(integer(redis.command({"XLEN", "koo:dead"})), static_cast<long long>(poison.size()));
    EXPECT_EQ(integer(redis.command({"XPENDING", "koo", "koorelease"}).elements.at(0)), 0);
    EXPECT_EQ(integer(redis.command({"XLEN", "koo"})), 0);
}

TEST(Queue, ThreeWorkersOneKilledEveryIdReleasedWithOneFinalResult) {
    REQUIRE_REDIS();
    redis_server redis;
    mock_server mock;
    temp_dir dir;
    const fleet f{mock, dir, redis.url_base() + "/koo"};
    const int n = 30'000;
    // drop- ids make the mock close the connection unanswered: a transient failure every time.
    const std::vector<std::string> poison = {"drop-poison-1", "drop-poison-2", "drop-poison-3"};
    // missing- ids are refused for good ("instance does not exist"): final at once, not poison.
    const std::vector<std::string> failing = {"missing-1", "missing-2"};
    auto planted = poison;
    planted.insert(planted.end(), failing.begin(), failing.end());
    ASSERT_EQ(f.enqueue(ids_with_poison(dir, n, planted)), n + 5);

    // 2000/s each: the run lasts several seconds, long enough to kill one worker in the middle.
    auto w1 = f.start("w1", {"--drain", "--rate", "2000"});
    auto w2 = f.start("w2", {"--drain", "--rate", "2000"});
    auto w3 = f.start("w3", {"--drain", "--rate", "2000"});
    ASSERT_TRUE(wait_for_lines(w1.journal, 2000, 60s)) << read_file(w1.err);
    w1.process->signal(SIGKILL);
    EXPECT_EQ(w1.process->wait(30s), 128 + SIGKILL);
    const auto c2 = w2.process->wait(120s), c3 = w3.process->wait(120s);
    ASSERT_TRUE(c2 && c3) << "the live workers did not finish";
    // 1: some ids failed here (the poison's deliveries); 0 when the other worker had them all.
    EXPECT_TRUE(*c2 == 0 || *c2 == 1) << read_file(w2.err);
    EXPECT_TRUE(*c3 == 0 || *c3 == 1) << read_file(w3.err);

    expect_fleet_done(redis, n, poison, failing);
    // The killed worker had not finished, and its entries were claimed by the others.
    EXPECT_LT(read_lines(w1.journal).size(), static_cast<std::size_t>(n) / 2);
    const auto err2 = read_file(w2.err), err3 = read_file(w3.err);
    const auto claimed2 = number_before(err2, "claimed from idle workers"),
               claimed3 = number_before(err3, "claimed from idle workers");
    ASSERT_GE(claimed2, 0) << err2;
    ASSERT_GE(claimed3, 0) << err3;
    EXPECT_GT(claimed2 + claimed3, 0) << err2 << err3;
    const auto stats = mock.stats();
    EXPECT_GE(stats.released, static_cast<std::uint64_t>(n));
    // The workers that finished left the group; the killed one could not, and holds nothing.
    const auto consumers = redis.command({"XINFO", "CONSUMERS", "koo", "koorelease"});
    ASSERT_EQ(consumers.elements.size(), 1u);
    EXPECT_EQ(field_of(consumers.elements[0], "name"), "w1");
    EXPECT_EQ(consumers.elements[0].elements.at(3).integer, 0);  // pending

    // What the operator runs to see it.
    spawn_options o;
    o.args = {"queue", "status", "--queue", f.queue, "--json"};
    child status(o);
    const auto line = status.read_line(30s);
    ASSERT_TRUE(line.has_value());
    EXPECT_EQ(status.wait(30s), 0);
    EXPECT_NE(line->find("\"length\":0,"), std::string::npos) << *line;
    EXPECT_NE(line->find("\"pending\":0,"), std::string::npos) << *line;
    EXPECT_NE(line->find("\"dead_letter\":3,"), std::string::npos) << *line;
    EXPECT_NE(line->find("\"released\":" + std::to_string(n)), std::string::npos) << *line;
    EXPECT_NE(line->find("\"failed\":2"), std::string::npos) << *line;
}

TEST(Queue, SharedRateHoldsAcrossThreeWorkers) {
    REQUIRE_REDIS();
    redis_server redis;
    mock_server mock;
    temp_dir dir;
    const fleet f{mock, dir, redis.url_base() + "/koo"};
    const int n = 1'800;
    ASSERT_EQ(f.enqueue(write_ids(dir, "r-", n)), n);
    std::vector<worker_run> workers;
    for (const char* name : {"a", "b", "c"}) workers.push_back(f.start(name, {"--drain", "--shared-rate", "300"}));
    for (auto& w : workers) EXPECT_EQ(w.process->wait(120s), 0) << read_file(w.err);
    expect_fleet_done(redis, n, {});

    // The mock counts requests in one-second windows from the first one. At 300/s the 1800
    // take about 6 s; no window may hold much more than 300 (the burst: a few batches of 15).
    const auto s = mock.stats();
    ASSERT_GE(s.per_second.size(), 5u);
    for (std::size_t i = 0; i < s.per_second.size(); ++i) {
        EXPECT_LE(s.per_second[i], 345u) << "second " << i;
    }
    // And the workers together did use it: the middle seconds are near 300.
    for (std::size_t i = 1; i + 1 < s.per_second.size(); ++i) EXPECT_GE(s.per_second[i], 200u) << "second " << i;
    // Permits came from Redis in batches, not one request each.
    long long permits = 0, asked = 0;
    for (auto& w : workers) {
        const auto err = read_file(w.err);
        const auto p = number_before(err, "permits in"), r = number_before(err, "requests to Redis");
        ASSERT_GE(p, 0) << err;
        ASSERT_GT(r, 0) << err;
        permits += p;
        asked += r;
    }
    EXPECT_GE(permits, n);
    EXPECT_LE(asked * 5, permits) << "permits should come in blocks (15 at 300/s)";
}

TEST(Queue, RedisRestartedMidRunTheWorkersRecoverAndLoseNothing) {
    REQUIRE_REDIS();
    redis_server redis;
    mock_server mock;
    temp_dir dir;
    const fleet f{mock, dir, redis.url_base() + "/koo"};
    const int n = 10'000;
    const std::vector<std::string> poison = {"drop-poison-x"};
    ASSERT_EQ(f.enqueue(ids_with_poison(dir, n, poison)), n + 1);
    auto w1 = f.start("w1", {"--drain", "--rate", "1500"});
    auto w2 = f.start("w2", {"--drain", "--rate", "1500"});
    ASSERT_TRUE(wait_for_lines(w1.journal, 1500, 60s)) << read_file(w1.err);
    redis.restart();
    const auto c1 = w1.process->wait(120s), c2 = w2.process->wait(120s);
    ASSERT_TRUE(c1 && c2) << read_file(w1.err) << read_file(w2.err);
    EXPECT_TRUE(*c1 == 0 || *c1 == 1) << read_file(w1.err);
    EXPECT_TRUE(*c2 == 0 || *c2 == 1) << read_file(w2.err);
    expect_fleet_done(redis, n, poison);
    const auto err = read_file(w1.err);
    EXPECT_NE(err.find("lost the connection to Redis"), std::string::npos) << err;
    EXPECT_NE(err.find("again"), std::string::npos) << err;
}

TEST(Queue, BadQueueUrlsAndUnreachableRedisSayWhatToFix) {
    temp_dir dir;
    auto run = [&](std::vector<std::string> args, std::string& err) {
        spawn_options o;
        o.args = std::move(args);
        o.env["KOOPHONE_TOKEN"] = test_token;
        o.stderr_file = dir.file("err");
        child c(o);
        const auto code = c.wait(30s);
        err = read_file(dir.file("err"));
        return code.value_or(-1);
    };
    std::string err;
    EXPECT_EQ(run({"release", "--queue", "redis://127.0.0.1:6379"}, err), 2);
    EXPECT_NE(err.find("stream is missing"), std::string::npos) << err;
    EXPECT_EQ(run({"release", "--queue", "redis://u:hunter2@127.0.0.1/q"}, err), 2);
    EXPECT_NE(err.find("KOORELEASE_REDIS_PASSWORD"), std::string::npos) << err;
    EXPECT_EQ(run({"release", "--drain"}, err), 2);
    EXPECT_NE(err.find("--drain needs --queue"), std::string::npos) << err;
    EXPECT_EQ(run({"release", "--queue", "redis://127.0.0.1:1/q", "--input", "ids.txt"}, err), 2);
    EXPECT_NE(err.find("exclusive"), std::string::npos) << err;
    // Port 1 on loopback: nothing listens there.
    EXPECT_EQ(run({"release", "--queue", "redis://127.0.0.1:1/q", "--drain"}, err), 3);
    EXPECT_NE(err.find("cannot use Redis at redis://127.0.0.1:1/q"), std::string::npos) << err;
    EXPECT_EQ(run({"enqueue", "--queue", "redis://127.0.0.1:1/q", write_ids(dir, "e-", 3)}, err), 3);
    EXPECT_NE(err.find("cannot use Redis"), std::string::npos) << err;
    EXPECT_EQ(run({"queue", "status", "--queue", "redis://127.0.0.1:1/q"}, err), 3);
}

TEST(Queue, EnqueueChecksLinesAsReleaseDoesAndCountsWhatRedisHolds) {
    REQUIRE_REDIS();
    redis_server redis;
    temp_dir dir;
    const auto ids = dir.file("ids.txt");
    // JSON Lines too: a journal's failed records can be queued again.
    write_file(ids, "a-1\n# a comment\n\na-2\na-1\nbad\x01id\na-3\n{\"instance_id\":\"a-4\",\"outcome\":\"failed\"}\n");
    spawn_options o;
    o.args = {"enqueue", "--queue", redis.url_base() + "/koo", ids};
    o.stderr_file = dir.file("err");
    child c(o);
    const auto line = c.read_line(30s);
    EXPECT_EQ(c.wait(30s), 1);  // an invalid line
    ASSERT_TRUE(line.has_value());
    EXPECT_EQ(*line, "4");
    const auto err = read_file(dir.file("err"));
    EXPECT_NE(err.find("input line 6"), std::string::npos) << err;
    EXPECT_NE(err.find("1 duplicates skipped, 1 invalid lines"), std::string::npos) << err;
    const auto entries = stream_outcomes(redis, "koo");
    EXPECT_EQ(entries.size(), 4u);
    EXPECT_TRUE(entries.contains("a-1") && entries.contains("a-2") && entries.contains("a-3") && entries.contains("a-4"));
}

}  // namespace
}  // namespace koorelease::test

namespace koorelease::test {
namespace {

// The Lua scripts, run by a real Redis, against the decisions the unit tests pin down.
TEST(QueueScripts, GcraScriptGrantsExactlyWhatTheModelGrants) {
    REQUIRE_REDIS();
    redis_server redis;
    std::mt19937_64 rng(11);
    for (const double rate : {3.0, 300.0, 7777.0}) {
        redis.command({"DEL", "k"});
        std::int64_t now = 1'800'000'000'000'000, tat = 0;
        char rate_text[32];
        std::snprintf(rate_text, sizeof rate_text, "%.6f", rate);
        int granted = 0, refused = 0;
        for (int i = 0; i < 150; ++i) {
            now += static_cast<std::int64_t>(rng() % 40'000);
            const auto wanted = static_cast<std::uint32_t>(1 + rng() % 40);
            const auto model = gcra_take(tat, now, rate, wanted, 200'000);
            const auto r = redis.command({"EVAL", std::string(gcra_script), "1", "k", rate_text,
                                          std::to_string(wanted), "200000", std::to_string(now)});
            ASSERT_EQ(r.elements.size(), 2u) << r.text;
            ASSERT_EQ(r.elements[0].integer, model.granted) << "rate " << rate << " step " << i;
            ASSERT_EQ(r.elements[1].integer, model.granted ? model.first_us : model.wait_us)
                << "rate " << rate << " step " << i;
            if (model.granted) {
                ++granted;
                tat = model.tat_us;
                ASSERT_EQ(redis.command({"GET", "k"}).text, std::to_string(tat));
            } else {
                ++refused;
            }
        }
        // Both ways through the script were taken (at 7777/s nothing reaches the lookahead).
        EXPECT_GT(granted, 0);
        if (rate < 1000) {
            EXPECT_GT(refused, 0) << "rate " << rate;
        }
    }
}

TEST(QueueScripts, FinishAcknowledgesOnceAndRecordsOnce) {
    REQUIRE_REDIS();
    redis_server redis;
    redis.command({"XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"});
    const auto id = redis.command({"XADD", "s", "*", "instance_id", "a-1"}).text;
    redis.command({"XREADGROUP", "GROUP", "g", "w1", "COUNT", "10", "STREAMS", "s", ">"});
    redis.command({"HSET", "s:errors", id, "retries exhausted: 503"});
    auto finish = [&](const std::string& kind, const std::string& outcome) {
        std::vector<std::string> argv{"EVAL", std::string(finish_script), "5", "s", "s:results", "s:dead", "s:errors",
                                      "s:counts", "g", id, kind};
        const auto fields = result_fields("a-1", outcome, "", 1, id, "w1", "{}\n");
        argv.insert(argv.end(), fields.begin(), fields.end());
        return redis.command(argv).integer;
    };
    EXPECT_EQ(finish("finish", "released"), 1);
    EXPECT_EQ(finish("finish", "released"), 0);  // a second worker finishing it adds nothing
    EXPECT_EQ(finish("dead", "dead_letter"), 0);
    EXPECT_EQ(redis.command({"XLEN", "s:results"}).integer, 1);
    EXPECT_EQ(redis.command({"XLEN", "s:dead"}).integer, 0);
    EXPECT_EQ(redis.command({"XLEN", "s"}).integer, 0);  // deleted once acknowledged
    EXPECT_EQ(redis.command({"HGET", "s:counts", "released"}).text, "1");
    EXPECT_EQ(redis.command({"HEXISTS", "s:errors", id}).integer, 0);

    // A dead-lettered entry: in both streams, counted as dead_letter.
    const auto id2 = redis.command({"XADD", "s", "*", "instance_id", "drop-2"}).text;
    redis.command({"XREADGROUP", "GROUP", "g", "w1", "COUNT", "10", "STREAMS", "s", ">"});
    std::vector<std::string> argv{"EVAL", std::string(finish_script), "5", "s", "s:results", "s:dead", "s:errors",
                                  "s:counts", "g", id2, "dead"};
    const auto fields = result_fields("drop-2", "dead_letter", "delivered 5 times", 5, id2, "w1", "");
    argv.insert(argv.end(), fields.begin(), fields.end());
    EXPECT_EQ(redis.command(argv).integer, 1);
    EXPECT_EQ(redis.command({"XLEN", "s:dead"}).integer, 1);
    EXPECT_EQ(redis.command({"XLEN", "s:results"}).integer, 2);
    EXPECT_EQ(redis.command({"HGET", "s:counts", "dead_letter"}).text, "1");
}

TEST(QueueScripts, ClaimReturnsIdleEntriesWithTheirDeliveryCounts) {
    REQUIRE_REDIS();
    redis_server redis;
    redis.command({"XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"});
    const auto a = redis.command({"XADD", "s", "*", "instance_id", "a-1"}).text;
    const auto b = redis.command({"XADD", "s", "*", "other", "x"}).text;
    redis.command({"XREADGROUP", "GROUP", "g", "dead-worker", "COUNT", "10", "STREAMS", "s", ">"});
    // min-idle 0: everything pending is claimable now (the worker's threshold is --claim-idle).
    auto r = redis.command({"EVAL", std::string(claim_script), "1", "s", "g", "w2", "0", "0-0", "10"});
    ASSERT_EQ(r.elements.size(), 2u) << r.text;
    EXPECT_EQ(r.elements[0].text, "0-0");
    ASSERT_EQ(r.elements[1].elements.size(), 2u);
    EXPECT_EQ(r.elements[1].elements[0].elements[0].text, a);
    EXPECT_EQ(r.elements[1].elements[0].elements[1].integer, 2);  // read once, claimed once
    EXPECT_EQ(r.elements[1].elements[0].elements[2].text, "a-1");
    EXPECT_EQ(r.elements[1].elements[1].elements[0].text, b);
    EXPECT_EQ(r.elements[1].elements[1].elements[2].type, redis::reply::kind::nil);  // no instance_id
    // A long min-idle claims nothing.
    r = redis.command({"EVAL", std::string(claim_script), "1", "s", "g", "w3", "600000", "0-0", "10"});
    EXPECT_TRUE(r.elements[1].elements.empty());
}

}  // namespace
}  // namespace koorelease::test
