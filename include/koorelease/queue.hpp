#pragma once
// The shared work queue (Redis Streams with a consumer group): the decisions, as pure code.
// The I/O that carries them out is in src/queue_worker.*; the README's "Many workers, one
// queue" explains the model:
//
//   - at-least-once delivery: an entry is acknowledged (XACK) only once its outcome is final
//     and written to the local journal; a worker that dies leaves its entries pending, and
//     live workers claim them (XAUTOCLAIM) once they have been idle for --claim-idle;
//   - the release is idempotent, so an entry released twice does no harm;
//   - exactly one final record per entry in the results stream: the record is added by the
//     same script that acknowledges the entry, and only if the acknowledgement took (a second
//     worker finishing the same entry finds it acknowledged already and adds nothing).
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace koorelease {

// --queue redis://[user@]host[:port]/STREAM[?group=NAME&consumer=NAME&db=N]
// The password is never in the URL (a command line is visible to every user of the machine):
// it comes from KOORELEASE_REDIS_PASSWORD.
struct queue_address {
    std::string host;
    std::uint16_t port = 6379;
    int db = 0;
    std::string username;         // ACL user; empty: the default user
    std::string stream;           // the stream of entries to release, e.g. "koo:release"
    std::string group = "koorelease";  // the consumer group every worker joins
    std::string consumer;         // this worker's name in the group; empty: host name and pid

    std::string results_stream() const { return stream + ":results"; }
    std::string dead_stream() const { return stream + ":dead"; }
    std::string errors_hash() const { return stream + ":errors"; }  // entry id -> its last error
    std::string rate_key() const { return stream + ":rate"; }      // the --shared-rate state
    std::string counts_hash() const { return stream + ":counts"; }  // results by outcome
    // redis://host:port/stream?group=g (no credentials), for messages.
    std::string to_string() const;
};

// On error, a one-line message that says what is wrong and what a correct URL looks like.
std::variant<queue_address, std::string> parse_queue_address(std::string_view url);

// What becomes of a stream entry once this worker's engine is done with its id.
enum class entry_action {
    finish,       // acknowledge it and add its final record to the results stream
    dead_letter,  // acknowledge it, add it to the dead-letter stream and a "dead_letter" result
    leave,        // leave it pending: it is not final; a worker claims it again after --claim-idle
};

struct entry_decision {
    entry_action action;
    std::string_view result;  // the results stream's outcome: released, failed, dead_letter; "" for leave
};

// `outcome` is the journal's (released, failed, invalid, aborted); `retryable` says whether a
// failure was transient (retries exhausted on 5xx, timeouts, lost connections, the retry budget,
// throttled too often): such an entry is worth another delivery, later, perhaps to another worker.
// `deliveries` counts this delivery (1 for the first). A permanent failure is final at once;
// an invalid id can never succeed, so it is dead-lettered at once; an aborted id (the worker
// is stopping) is left for another worker, whatever its count.
entry_decision decide_entry(std::string_view outcome, bool retryable, std::uint64_t deliveries,
                            std::uint32_t max_deliveries);

// The reason a dead-lettered entry carries: how often it was delivered, and its last error.
std::string dead_letter_reason(std::uint64_t deliveries, std::string_view last_error);

// How many entries a worker takes ahead of its connections: room for the engine's read-ahead
// (a batch of 256 plus its queue) and a read from Redis, at least 2,048; under a rate
// (--shared-rate, --rate: the lower of those given), no more than two seconds of it (at least
// 16), so that one worker does not take what the others could be sending, nor leave much to
// be claimed if it dies.
std::size_t held_limit(std::uint32_t concurrency, std::uint32_t pipeline, double shared_rate, double rate);

// An entry claimed from another (or this) worker's pending list is dead-lettered without being
// sent when it has already been delivered more than max_deliveries times: e.g. an id whose
// release kills the worker every time must not go round for ever.
bool dead_letter_on_claim(std::uint64_t deliveries, std::uint32_t max_deliveries);

// The fields of a results (or dead-letter) stream entry: instance_id, outcome (the queue's:
// released, failed, dead_letter), reason, deliveries, entry (the id of the work entry), worker,
// and record: the journal line of the outcome (JSON, as in the local journal), when there is one.
std::vector<std::string> result_fields(std::string_view instance_id, std::string_view result,
                                       std::string_view reason, std::uint64_t deliveries,
                                       std::string_view entry_id, std::string_view worker,
                                       std::string_view record_json);

// --shared-rate: permits are time slots on one schedule for the whole fleet, kept in Redis as a
// GCRA's "theoretical arrival time" (TAT). A worker reserves a block of consecutive slots, one
// fleet interval (1/rate) apart, in one script call; blocks of different workers never overlap,
// so the fleet's requests are spaced as one client's would be, whatever the number of workers.
// A block is a twentieth of a second of the fleet's rate (at least 1, at most 256 slots).
std::uint32_t permit_batch(double shared_rate);

// How far ahead of Redis's clock slots may be reserved: a worker asks again while it still
// holds slots, and the fleet's workers together hold a few blocks; beyond this the script
// grants nothing and says how long to wait.
inline constexpr std::int64_t slot_lookahead_us = 500'000;

// The script's decision, in C++ for the unit tests (the script is checked against it in the
// integration tests). Given the stored TAT (0: none), the time, the rate and the slots wanted:
// granted slots start at `first_us` after now (0 when the schedule is free) and the TAT moves
// past them; when none is granted, `wait_us` is how long until asking makes sense.
struct gcra_grant {
    std::uint32_t granted = 0;
    std::int64_t tat_us = 0;
    std::int64_t first_us = 0;  // granted: the first slot's time, relative to now
    std::int64_t wait_us = 0;   // none granted: when to ask again, relative to now
};
gcra_grant gcra_take(std::int64_t tat_us, std::int64_t now_us, double rate, std::uint32_t wanted,
                     std::int64_t lookahead_us = slot_lookahead_us);

// The slots a worker holds: the blocks gcra_take granted it, each slot one fleet interval after
// the one before. A permit is a slot whose time has come. A slot not used within `stale` of
// its time (20 ms, or two intervals if longer) is dropped: using it later would bunch requests
// up. Not thread-safe; the caller passes the time in (tests drive it with a hand-made clock).
class slot_pool {
public:
    using clock = std::chrono::steady_clock;

    slot_pool(double rate, std::uint32_t batch);

    // A block of `count` slots, the first at `first`.
    void add(clock::time_point first, std::uint32_t count);
    // Takes the earliest slot if its time has come (after dropping the stale ones).
    bool try_take(clock::time_point now);
    // Time to reserve another block: half a block or less is held.
    bool low() const { return held_ <= batch_ / 2; }
    std::uint32_t held() const { return held_; }
    // The time of the earliest slot held, if any.
    std::optional<clock::time_point> next() const;
    void clear();

    clock::duration interval() const { return interval_; }
    clock::duration stale() const { return stale_; }

private:
    struct block {
        clock::time_point first;  // the next slot's time
        std::uint32_t count;
    };

    std::uint32_t batch_;
    clock::duration interval_;
    clock::duration stale_;
    std::deque<block> blocks_;
    std::uint32_t held_ = 0;
};

// The Lua script of gcra_take: KEYS[1] the rate key; ARGV rate, wanted, lookahead_us and
// optionally now_us (tests; default: the server's TIME). Returns {granted, first_us or wait_us}.
extern const std::string_view gcra_script;

// Acknowledges an entry and, only if the acknowledgement took, records its outcome:
// KEYS: stream, results, dead, errors, counts (a hash: results by outcome); ARGV: group, entry id, "finish"|"dead", then
// field/value pairs of the record. A dead-lettered entry gets both a dead-letter entry and a
// "dead_letter" result; the counts hash counts the result's outcome (ARGV[7]: the outcome field
// is always first after instance_id). The acknowledged entry is deleted from the stream, and its last error
// from the errors hash. Returns 1 when this call acknowledged it, 0 when it was already.
extern const std::string_view finish_script;

// Claims entries idle for at least min-idle (XAUTOCLAIM) and returns each with its delivery
// count: KEYS: stream; ARGV: group, consumer, min-idle ms, start id, count. Returns
// {next start id, {{id, deliveries, instance_id or false}, ...}}.
extern const std::string_view claim_script;

}  // namespace koorelease
