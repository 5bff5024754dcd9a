#pragma once
// A worker of the shared queue (koorelease/queue.hpp has the model and the decisions): it feeds
// the engine from a Redis stream through a consumer group, and acknowledges each entry once its
// outcome is final and in the local journal.
//
//   Redis --XREADGROUP / claim--> source() --> engine --> sink() --journal, then--> finish script
//
// The Redis side runs on a thread of its own with its own event loop (two connections: one for
// the blocking XREADGROUP, one for everything else, pipelined). The engine's threads meet it
// only through source(), sink() and permits(), under one mutex.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "koorelease/backoff.hpp"
#include "koorelease/input.hpp"
#include "koorelease/journal.hpp"
#include "koorelease/permits.hpp"
#include "koorelease/queue.hpp"

namespace koorelease {

struct queue_worker_settings {
    queue_address address;
    std::string password;                          // KOORELEASE_REDIS_PASSWORD; never logged
    std::string consumer;                          // this worker's name in the group
    std::chrono::milliseconds claim_idle{60000};   // claim others' entries idle this long
    std::uint32_t max_deliveries = 5;              // then dead-letter
    bool drain = false;                            // end when the stream and the pending list are empty
    double shared_rate = 0;                        // requests/s for all workers together; 0: none
    std::size_t max_held = 1024;                   // entries taken and not yet final, at most
    std::uint32_t read_count = 256;                // entries per XREADGROUP
    std::chrono::milliseconds redis_timeout{5000}; // per connect and per command
    // At the end, how long to wait for Redis to take the outcomes still to acknowledge.
    std::chrono::milliseconds final_wait{60000};
    backoff_policy reconnect_backoff{std::chrono::milliseconds(200), std::chrono::seconds(5)};
};

struct queue_counts {
    std::uint64_t taken = 0;           // entries read with XREADGROUP
    std::uint64_t claimed = 0;         // entries claimed from idle consumers
    std::uint64_t finished = 0;        // acknowledged with a released / failed result
    std::uint64_t dead_lettered = 0;   // acknowledged into the dead-letter stream
    std::uint64_t left_pending = 0;    // not final here (transient failure, stop): delivered again later
    std::uint64_t already_acked = 0;   // final here, but another worker had acknowledged it first
    std::uint64_t reconnects = 0;      // Redis connections lost and made again
    std::uint64_t shared_permits = 0;  // --shared-rate permits granted by Redis
    std::uint64_t permit_requests = 0; // ... in this many requests to Redis
    std::uint64_t unacknowledged = 0;  // final outcomes Redis never took (it stayed unreachable)
};

class queue_worker {
public:
    queue_worker(queue_worker_settings settings, outcome_sink& journal);
    ~queue_worker();
    queue_worker(const queue_worker&) = delete;
    queue_worker& operator=(const queue_worker&) = delete;

    // Connects, loads the scripts and joins the group (creating the stream and the group, which
    // starts at the beginning of the stream, if they do not exist). Throws std::runtime_error
    // with a message that says what to fix when Redis cannot be reached or refuses.
    void start();

    id_source& source();
    outcome_sink& sink();
    std::shared_ptr<permit_source> permits();  // null without --shared-rate
    // One-line notices since the last call (Redis lost, reconnected, dead-lettered entries).
    std::vector<std::string> take_warnings();

    // After the engine returned: hands the last outcomes to Redis (waiting up to final_wait for
    // it to be reachable) and stops the Redis thread.
    queue_counts finish();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// The default consumer name: host name and process id ("node-7-12345").
std::string default_consumer_name();

}  // namespace koorelease
