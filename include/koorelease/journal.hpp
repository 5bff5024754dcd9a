#pragma once
// The outcome journal: one JSON object per line, exactly one line per distinct id, written
// when the id's outcome is final. It is the operator's record of what happened to every
// instance, and a support ticket quotes its request ids.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

#include "koorelease/id_set.hpp"
#include "koorelease/request.hpp"

namespace koorelease {

namespace outcome {
inline constexpr std::string_view released = "released";
inline constexpr std::string_view failed = "failed";
inline constexpr std::string_view invalid = "invalid";   // a line that is not an id; never sent
// The run stopped (token rejected, interrupted, endpoint unreachable) before this id's
// outcome was known: not final, so a later run releases it again.
inline constexpr std::string_view aborted = "aborted";
}  // namespace outcome

struct outcome_record {
    std::string_view instance_id;
    std::string_view outcome;
    std::string_view reason;          // why it failed or was aborted; empty when released
    std::uint32_t attempts = 0;
    unsigned http_status = 0;         // of the last answer; 0 when none came
    std::string_view error_code;      // of the last answer
    std::string_view error_msg;
    std::span<const request_id> request_ids;  // every attempt's x-request-id, in order
    double latency_ms = -1;           // of the last attempt; negative when none was sent
    std::chrono::system_clock::time_point finished_at;
    std::uint64_t line = 0;           // input line, for invalid records
    // A failure that was transient (retries exhausted, throttled too often, the retry budget):
    // not written to the journal; a shared queue delivers such an id again (koorelease/queue.hpp).
    bool retryable = false;
};

// Appends the record as one line of JSON (with its '\n').
void format_record(std::string& out, const outcome_record& r);

// Where records go. Called on the engine's thread.
class outcome_sink {
public:
    virtual ~outcome_sink() = default;
    virtual void write(const outcome_record& r) = 0;
    // Pushes what is buffered to the file (called a few times a second and at the end).
    virtual void flush() = 0;
    // Flushes and makes it durable (fdatasync): called about once a second and at the end.
    virtual void sync() { flush(); }
};

// Writes records to a file descriptor in large batches: the format into one buffer, one write
// call when it fills or on flush(); fdatasync on sync(). A failed write throws.
class jsonl_journal final : public outcome_sink {
public:
    jsonl_journal(int fd, std::string name, bool owns_fd);
    ~jsonl_journal() override;
    jsonl_journal(const jsonl_journal&) = delete;
    jsonl_journal& operator=(const jsonl_journal&) = delete;

    void write(const outcome_record& r) override;
    void flush() override;
    void sync() override;  // flush and fdatasync (no-op on pipes and terminals)

private:
    int fd_;
    std::string name_;
    bool owns_fd_;
    std::string buffer_;
};

// What an earlier run's journal already settled, for --resume.
struct prior_outcomes {
    id_set final_ids;                                 // ids with a released or failed record
    std::unordered_set<std::uint64_t> invalid_lines;  // input lines already recorded invalid
    std::uint64_t records = 0;                        // records read
    std::uint64_t aborted = 0;                        // "aborted" records (not final: sent again)
    bool torn_tail = false;                           // the last line was incomplete and dropped
    std::uint64_t keep_bytes = 0;                     // the journal's valid length (truncate to it)
};

// Reads a journal written by koorelease (or by a run that was killed: only its last line may
// be incomplete). Returns false with a one-line `error` naming the line when it is not a
// koorelease journal.
bool load_prior_outcomes(const std::string& path, prior_outcomes& out, std::string& error);

}  // namespace koorelease
