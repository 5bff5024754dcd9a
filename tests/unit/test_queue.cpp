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
    EXPECT_NE(parse_error("redis://:6379/q").find("no host"), std::string::npos);
    EXPECT_NE(parse_error("redis://ho st/q").find("invalid character in the host name"), std::string::npos);
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

TEST(SharedRate, BlocksOfSlotsFollowEachOtherOnOneSchedule) {
    const std::int64_t t0 = 1'800'000'000'000'000;  // microseconds since the epoch, 2027
    // 100/s: slots 10 ms apart. A free schedule starts now.
    auto a = gcra_take(0, t0, 100, 15);
    EXPECT_EQ(a.granted, 15u);
    EXPECT_EQ(a.first_us, 0);
    EXPECT_EQ(a.tat_us, t0 + 150'000);
    // A second worker, 1 ms later, gets the slots after the first one's.
    auto b = gcra_take(a.tat_us, t0 + 1'000, 100, 15);
    EXPECT_EQ(b.granted, 15u);
    EXPECT_EQ(b.first_us, 149'000);
    EXPECT_EQ(b.tat_us, t0 + 300'000);
    // Up to the lookahead; past it, nothing, and when to ask again.
    auto c = gcra_take(b.tat_us, t0 + 1'000, 100, 40, 250'000);
    EXPECT_EQ(c.granted, 0u);
    EXPECT_EQ(c.wait_us, 49'000);
    EXPECT_EQ(c.tat_us, b.tat_us);
    c = gcra_take(b.tat_us, t0 + 50'000, 100, 40, 250'000);
    EXPECT_EQ(c.granted, 40u);
    EXPECT_EQ(c.first_us, 250'000);
    // An old TAT (idle for long) counts as now: idle time is not saved up as a burst.
    auto d = gcra_take(t0 - 5'000'000, t0, 100, 3);
    EXPECT_EQ(d.granted, 3u);
    EXPECT_EQ(d.first_us, 0);
    EXPECT_EQ(d.tat_us, t0 + 30'000);
}

TEST(SharedRate, ManyWorkersSlotsNeverCloserThanTheInterval) {
    // Three workers ask for blocks at random times over 20 simulated seconds: all the slots
    // granted, merged, are one schedule: no two closer than 1/rate (to a microsecond of
    // rounding), and never more than rate * seconds + 1 in any window.
    std::mt19937_64 rng(7);
    for (double rate : {1.0, 7.5, 300.0, 999.0, 5000.0}) {
        SCOPED_TRACE("rate " + std::to_string(rate));
        const std::uint32_t batch = permit_batch(rate);
        const double interval = 1e6 / rate;
        const std::int64_t t0 = 1'800'000'000'000'000;
        std::int64_t tat = 0, now = t0;
        std::vector<double> slots;
        while (now < t0 + 20'000'000) {
            now += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(interval * batch / 2 + 2));
            const auto g = gcra_take(tat, now, rate, batch);
            if (g.granted == 0) {
                EXPECT_GT(g.wait_us, 0);
                continue;
            }
            EXPECT_GE(g.first_us, 0);
            EXPECT_LE(g.first_us, slot_lookahead_us);
            for (std::uint32_t i = 0; i < g.granted; ++i) {
                slots.push_back(static_cast<double>(now + g.first_us) + i * interval);
            }
            tat = g.tat_us;
        }
        std::sort(slots.begin(), slots.end());
        ASSERT_GT(slots.size(), 10u);
        for (std::size_t i = 1; i < slots.size(); ++i) {
            ASSERT_GE(slots[i] - slots[i - 1], interval - 1.0) << "slot " << i;
        }
        // The fleet got about the whole rate (the workers asked often enough).
        const double seconds = (slots.back() - slots.front()) / 1e6;
        EXPECT_GE(static_cast<double>(slots.size()), rate * seconds * 0.9);
        EXPECT_LE(static_cast<double>(slots.size()), rate * seconds + 1.5);
    }
}

TEST(QueueResults, FieldsNameTheEntryTheWorkerAndTheJournalLine) {
    const auto f = result_fields("iRJEVP96", "released", "", 2, "1700000000000-3", "host-1-42",
                                 "{\"instance_id\":\"iRJEVP96\",\"outcome\":\"released\"}\n");
    const std::vector<std::string> want = {"instance_id", "iRJEVP96", "outcome", "released", "deliveries", "2",
                                           "entry", "1700000000000-3", "worker", "host-1-42",
                                           "record", "{\"instance_id\":\"iRJEVP96\",\"outcome\":\"released\"}"};
    EXPECT_EQ(f, want);
    // The outcome is always the fourth value: the finish script counts results by it.
    const auto d = result_fields("x", "dead_letter", "delivered 6 times", 6, "1-1", "w", "");
    ASSERT_GE(d.size(), 4u);
    EXPECT_EQ(d[2], "outcome");
    EXPECT_EQ(d[3], "dead_letter");
    EXPECT_EQ(d[4], "reason");
    EXPECT_EQ(d[5], "delivered 6 times");
    EXPECT_EQ(d.size(), 12u);  // no record field without a journal line
}

TEST(QueueDecision, DeadLetterReasonNamesTheDeliveriesAndTheLastError) {
    EXPECT_EQ(dead_letter_reason(5, "retries exhausted: 503"), "delivered 5 times; last error: retries exhausted: 503");
}

TEST(QueueDecision, EntriesHeldAreTwoSecondsOfTheRateAtMost) {
    EXPECT_EQ(held_limit(32, 1, 0, 0), 2048u);      // no rate: room for the engine's read-ahead
    EXPECT_EQ(held_limit(256, 1, 0, 0), 4096u);     // 16 per connection and pipeline slot
    EXPECT_EQ(held_limit(32, 8, 0, 0), 4096u);
    EXPECT_EQ(held_limit(32, 1, 300, 0), 600u);     // two seconds of the shared rate
    EXPECT_EQ(held_limit(32, 1, 0, 100), 200u);     // ... or of --rate
    EXPECT_EQ(held_limit(32, 1, 300, 100), 200u);   // the lower of the two
    EXPECT_EQ(held_limit(32, 1, 300, 2000), 600u);
    EXPECT_EQ(held_limit(32, 1, 0, 2000), 2048u);   // never above the room
    EXPECT_EQ(held_limit(32, 1, 1, 0), 16u);        // nor below 16
}

TEST(SlotPool, SlotsComeOneIntervalApartInTheOrderOfTheirBlocks) {
    using namespace std::chrono_literals;
    const slot_pool::clock::time_point t0{std::chrono::hours(1)};
    slot_pool pool(100, 4);  // 10 ms apart; stale after 20 ms
    EXPECT_EQ(pool.interval(), 10ms);
    EXPECT_EQ(pool.stale(), 20ms);
    EXPECT_FALSE(pool.try_take(t0));  // nothing held
    EXPECT_FALSE(pool.next().has_value());
    EXPECT_TRUE(pool.low());
    pool.add(t0 + 5ms, 3);
    pool.add(t0 + 100ms, 2);  // another worker's block came in between
    EXPECT_EQ(pool.held(), 5u);
    EXPECT_FALSE(pool.low());
    EXPECT_FALSE(pool.try_take(t0));  // not yet
    EXPECT_EQ(pool.next(), t0 + 5ms);
    EXPECT_TRUE(pool.try_take(t0 + 5ms));
    EXPECT_FALSE(pool.try_take(t0 + 14ms));
    EXPECT_TRUE(pool.try_take(t0 + 15ms));
    EXPECT_TRUE(pool.try_take(t0 + 30ms));  // 5 ms late: still usable
    EXPECT_EQ(pool.held(), 2u);
    EXPECT_TRUE(pool.low());
    EXPECT_FALSE(pool.try_take(t0 + 99ms));
    EXPECT_TRUE(pool.try_take(t0 + 100ms));
    EXPECT_TRUE(pool.try_take(t0 + 110ms));
    EXPECT_FALSE(pool.try_take(t0 + 500ms));
    EXPECT_EQ(pool.held(), 0u);
}

TEST(SlotPool, SlotsMoreThanStalePastAreDroppedNotBunched) {
    using namespace std::chrono_literals;
    const slot_pool::clock::time_point t0{std::chrono::hours(1)};
    slot_pool pool(100, 10);
    pool.add(t0, 5);  // slots at 0, 10, 20, 30, 40 ms
    // At 45 ms the slots at 0, 10 and 20 ms are more than 20 ms past; the one at 30 ms (15 ms
    // late) is the first usable.
    EXPECT_TRUE(pool.try_take(t0 + 45ms));
    EXPECT_EQ(pool.held(), 1u);  // only the slot at 40 ms is left
    EXPECT_EQ(pool.next(), t0 + 40ms);
    // A slot exactly `stale` past is still usable.
    EXPECT_TRUE(pool.try_take(t0 + 60ms));
    // A whole block gone stale is dropped at once.
    pool.add(t0 + 100ms, 3);
    EXPECT_FALSE(pool.try_take(t0 + 1s));
    EXPECT_EQ(pool.held(), 0u);
    pool.add(t0 + 2s, 3);
    pool.clear();
    EXPECT_EQ(pool.held(), 0u);
    EXPECT_FALSE(pool.try_take(t0 + 2s));
}

TEST(SlotPool, FastRatesAreStaleAfterTwentyMillisecondsSlowOnesAfterTwoIntervals) {
    using namespace std::chrono_literals;
    EXPECT_EQ(slot_pool(5000, 250).stale(), 20ms);
    EXPECT_EQ(slot_pool(10, 1).stale(), 200ms);
}
