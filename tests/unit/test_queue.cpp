// The shared queue's decisions: the --queue URL, what becomes of an entry, the shared rate.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <variant>

#include "koorelease/journal.hpp"
#include "koorelease/queue.hpp"

using namespace koorelease;

namespace {

queue_address parse_ok(std::string_view url) {
    auto r = parse_queue_address(url);
    if (auto* e = std::get_if<std::string>(&r)) {
        ADD_FAILURE() << url << ": " << *e;
        return {};
    }
    return std::get<queue_address>(r);
}

std::string parse_error(std::string_view url) {
    auto r = parse_queue_address(url);
    if (auto* e = std::get_if<std::string>(&r)) return *e;
    ADD_FAILURE() << url << " was accepted";
    return {};
}

}  // namespace

TEST(QueueAddress, TheIssueExamples) {
    const auto a = parse_ok("redis://host:6379/koo:release");
    EXPECT_EQ(a.host, "host");
    EXPECT_EQ(a.port, 6379);
    EXPECT_EQ(a.stream, "koo:release");
    EXPECT_EQ(a.group, "koorelease");
    EXPECT_EQ(a.consumer, "");
    EXPECT_EQ(a.db, 0);
    EXPECT_EQ(a.results_stream(), "koo:release:results");
    EXPECT_EQ(a.dead_stream(), "koo:release:dead");

    const auto b = parse_ok("redis://host:6379/koo:release?group=reclaim");
    EXPECT_EQ(b.group, "reclaim");
    EXPECT_EQ(b.to_string(), "redis://host:6379/koo:release?group=reclaim");
}

TEST(QueueAddress, DefaultsAndParameters) {
    const auto a = parse_ok("redis://10.0.0.5/q");
    EXPECT_EQ(a.port, 6379);
    EXPECT_EQ(a.stream, "q");
    const auto b = parse_ok("redis://ops@[::1]:7000/a/b?consumer=w-1&db=3&group=g");
    EXPECT_EQ(b.username, "ops");
    EXPECT_EQ(b.host, "::1");
    EXPECT_EQ(b.port, 7000);
    EXPECT_EQ(b.stream, "a/b");
    EXPECT_EQ(b.consumer, "w-1");
    EXPECT_EQ(b.db, 3);
    EXPECT_EQ(b.group, "g");
    EXPECT_EQ(b.to_string(), "redis://ops@[::1]:7000/a/b?group=g&db=3");
}

TEST(QueueAddress, RejectsWithTheFix) {
    EXPECT_NE(parse_error("http://host/q").find("scheme must be redis://"), std::string::npos);
    EXPECT_NE(parse_error("rediss://host/q").find("not supported"), std::string::npos);
    EXPECT_NE(parse_error("redis://host:6379").find("stream is missing"), std::string::npos);
    EXPECT_NE(parse_error("redis://host:6379/").find("stream is missing"), std::string::npos);
    EXPECT_NE(parse_error("redis://host:0/q").find("port"), std::string::npos);
    EXPECT_NE(parse_error("redis://host:99999/q").find("port"), std::string::npos);
    EXPECT_NE(parse_error("redis://host:/q").find("empty port"), std::string::npos);
    EXPECT_NE(parse_error("redis://:6379/q").find("host is missing"), std::string::npos);
    EXPECT_NE(parse_error("redis://ho st/q").find("invalid host"), std::string::npos);
    EXPECT_NE(parse_error("redis://host/q?group=").find("group"), std::string::npos);
    EXPECT_NE(parse_error("redis://host/q?db=x").find("db must be"), std::string::npos);
    EXPECT_NE(parse_error("redis://host/q?colour=blue").find("unknown parameter 'colour'"), std::string::npos);
    EXPECT_NE(parse_error("redis://host/q?group").find("name=value"), std::string::npos);
    EXPECT_NE(parse_error("redis://host/a b").find("stream name"), std::string::npos);
    EXPECT_NE(parse_error("redis://[::1/q").find("unclosed"), std::string::npos);
}

TEST(QueueAddress, APasswordIsRefusedAndNotQuotedBack) {
    for (const char* url : {"redis://user:s3cret-pw@host/q", "redis://host/q?password=s3cret-pw"}) {
        const auto e = parse_error(url);
        EXPECT_NE(e.find("KOORELEASE_REDIS_PASSWORD"), std::string::npos) << e;
    }
    // The message quotes the URL the user typed (they need to find it); the password is only
    // refused, and no other place (logs, results) ever sees the URL of a rejected run.
}

TEST(QueueDecision, EveryOutcomeAndDeliveryCount) {
    for (std::uint32_t max = 1; max <= 6; ++max) {
        for (std::uint64_t d = 1; d <= 8; ++d) {
            for (bool retryable : {false, true}) {
                SCOPED_TRACE("max " + std::to_string(max) + " delivery " + std::to_string(d) +
                             (retryable ? " retryable" : " permanent"));
                auto r = decide_entry(outcome::released, retryable, d, max);
                EXPECT_EQ(r.action, entry_action::finish);
                EXPECT_EQ(r.result, "released");

                r = decide_entry(outcome::invalid, retryable, d, max);
                EXPECT_EQ(r.action, entry_action::dead_letter);
                EXPECT_EQ(r.result, "dead_letter");

                r = decide_entry(outcome::aborted, retryable, d, max);
                EXPECT_EQ(r.action, entry_action::leave);
                EXPECT_EQ(r.result, "");

                r = decide_entry(outcome::failed, retryable, d, max);
                if (!retryable) {
                    EXPECT_EQ(r.action, entry_action::finish);
                    EXPECT_EQ(r.result, "failed");
                } else if (d >= max) {
                    EXPECT_EQ(r.action, entry_action::dead_letter);
                    EXPECT_EQ(r.result, "dead_letter");
                } else {
                    EXPECT_EQ(r.action, entry_action::leave);
                }
            }
        }
    }
    EXPECT_EQ(decide_entry("something new", false, 1, 5).action, entry_action::leave);
}

TEST(QueueDecision, ClaimedEntriesPastTheLimitAreDeadLettered) {
    EXPECT_FALSE(dead_letter_on_claim(1, 5));
    EXPECT_FALSE(dead_letter_on_claim(5, 5));
    EXPECT_TRUE(dead_letter_on_claim(6, 5));
    EXPECT_TRUE(dead_letter_on_claim(2, 1));
}

TEST(SharedRate, BatchIsATwentiethOfASecondWithinBounds) {
    EXPECT_EQ(permit_batch(0), 1u);
    EXPECT_EQ(permit_batch(-3), 1u);
    EXPECT_EQ(permit_batch(10), 1u);
    EXPECT_EQ(permit_batch(39), 1u);
    EXPECT_EQ(permit_batch(40), 2u);
    EXPECT_EQ(permit_batch(300), 15u);
    EXPECT_EQ(permit_batch(1e6), 256u);
}

TEST(SharedRate, GcraGrantsTheBurstThenTheRate) {
    const std::int64_t t0 = 1'800'000'000'000'000;  // microseconds since the epoch, 2027
    // 100/s, burst 10: 10 at once after idle, then one per 10 ms.
    auto g = gcra_take(0, t0, 100, 10, 50);
    EXPECT_EQ(g.granted, 10u);
    EXPECT_EQ(g.tat_us, t0 + 100'000);
    auto h = gcra_take(g.tat_us, t0, 100, 10, 1);
    EXPECT_EQ(h.granted, 0u);
    EXPECT_EQ(h.wait_us, 10'000);
    h = gcra_take(g.tat_us, t0 + 9'999, 100, 10, 1);
    EXPECT_EQ(h.granted, 0u);
    EXPECT_EQ(h.wait_us, 1);
    h = gcra_take(g.tat_us, t0 + 10'000, 100, 10, 5);
    EXPECT_EQ(h.granted, 1u);
    EXPECT_EQ(h.tat_us, t0 + 110'000);
    // A stale TAT (idle for long) counts as now.
    h = gcra_take(t0 - 5'000'000, t0, 100, 10, 3);
    EXPECT_EQ(h.granted, 3u);
    EXPECT_EQ(h.tat_us, t0 + 30'000);
}

TEST(SharedRate, ManyWorkersNeverExceedRateTimesTimePlusBurst) {
    // Three workers ask for batches at random times over 20 simulated seconds: the permits
    // granted in any window [a, b) are at most rate*(b-a) + burst.
    std::mt19937_64 rng(7);
    for (double rate : {1.0, 7.5, 300.0, 999.0, 5000.0}) {
        const std::uint32_t burst = permit_batch(rate);
        const std::int64_t t0 = 1'800'000'000'000'000;
        std::int64_t tat = 0, now = t0;
        std::vector<std::pair<std::int64_t, std::uint32_t>> grants;
        std::uint64_t total = 0;
        while (now < t0 + 20'000'000) {
            now += static_cast<std::int64_t>(rng() % 3000);
            const auto g = gcra_take(tat, now, rate, burst, burst);
            if (g.granted) {
                tat = g.tat_us;
                grants.emplace_back(now, g.granted);
                total += g.granted;
            } else {
                EXPECT_GT(g.wait_us, 0);
            }
        }
        SCOPED_TRACE("rate " + std::to_string(rate));
        // Over the whole run, the rate holds to within the burst.
        const double seconds = static_cast<double>(now - t0) / 1e6;
        EXPECT_LE(static_cast<double>(total), rate * seconds + burst + 1);
        EXPECT_GE(static_cast<double>(total), rate * 20.0 * 0.97 - burst);
        // And in every one-second window starting at a grant.
        for (std::size_t i = 0; i < grants.size(); i += 37) {
            std::uint64_t in_window = 0;
            for (std::size_t j = i; j < grants.size() && grants[j].first < grants[i].first + 1'000'000; ++j) {
                in_window += grants[j].second;
            }
            EXPECT_LE(static_cast<double>(in_window), rate + burst + 1);
        }
    }
}
