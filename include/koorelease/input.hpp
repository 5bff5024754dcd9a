#pragma once
// Where instance ids come from. The input is one id per line: blank lines and lines starting
// with '#' are skipped, surrounding whitespace (CR too) is trimmed. A line that starts with '{'
// is a JSON object whose "instance_id" string is the id (JSON Lines: a koorelease journal is
// an input too). A line that cannot be an id (too long, control characters, invalid UTF-8, a
// JSON line without "instance_id") is reported, never sent.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace koorelease {

// The longest id accepted, in bytes after trimming. KooPhone ids are short ("iRJEVP96");
// the limit only guards against binary junk and runaway lines.
inline constexpr std::size_t max_id_length = 128;

struct parsed_line {
    enum class kind { id, skip, invalid };
    kind what;
    std::string_view text;  // the trimmed id, or the reason it is invalid
};

// The longest JSON line accepted (a journal record with many request ids fits).
inline constexpr std::size_t max_json_line_length = 64 * 1024;

// Judges one line (without its '\n'). For a JSON line, `text` points into a buffer of this
// thread that the next call overwrites.
parsed_line parse_line(std::string_view raw);

// One item from an id source: an id to release, or an invalid line to report.
struct input_item {
    bool valid = true;
    std::string text;        // the id, or the reason the line is invalid
    std::uint64_t line = 0;  // 1-based line number in the input
};

// A source of ids, read on a thread of its own (reads may block).
class id_source {
public:
    virtual ~id_source() = default;
    // The next item; false at the end of the input. Throws std::runtime_error on a read
    // error (the message names the input and the cause).
    virtual bool next(input_item& out) = 0;
    // The input's size in bytes, if known (for a progress estimate); 0 if not.
    virtual std::uint64_t size_hint() const { return 0; }
    virtual std::uint64_t bytes_read() const { return 0; }
    // Lines handed out so far (ids, skipped and invalid lines alike): with bytes_read(), the
    // progress line's estimate of the lines in the whole input.
    virtual std::uint64_t lines_read() const { return 0; }
    // Makes a next() that is blocked, or the next one, return false at once. Thread-safe.
    virtual void cancel() {}
    // Called just before next() may block waiting for more input, so the caller can hand on
    // what it has gathered instead of holding it while a slow producer writes.
    std::function<void()> before_blocking_read;
};

// Reads lines from a file descriptor with a fixed buffer: memory stays the same whatever the
// input's size, and a line longer than the buffer is skipped and reported, not held.
class line_reader final : public id_source {
public:
    // Takes ownership of fd (closes it) unless it is 0 (stdin). `name` is for messages.
    line_reader(int fd, std::string name, std::uint64_t size_hint = 0);
    ~line_reader() override;
    line_reader(const line_reader&) = delete;
    line_reader& operator=(const line_reader&) = delete;

    bool next(input_item& out) override;
    std::uint64_t size_hint() const override { return size_hint_; }
    std::uint64_t bytes_read() const override { return bytes_read_.load(std::memory_order_relaxed); }
    std::uint64_t lines_read() const override { return lines_read_.load(std::memory_order_relaxed); }
    void cancel() override;

private:
    bool fill();  // reads more; false at end of input

    int fd_;
    int wake_fd_;  // an eventfd: cancel() makes it readable, which ends a blocked poll
    std::atomic<bool> cancelled_{false};
    std::string name_;
    std::uint64_t size_hint_;
    // Bytes of the lines handed out so far (not of what sits in the buffer: a progress estimate
    // from it would run up to 64 KiB ahead). Read by the progress line on another thread.
    std::atomic<std::uint64_t> bytes_read_{0};
    std::atomic<std::uint64_t> lines_read_{0};
    std::uint64_t total_read_ = 0;  // bytes read from fd_
    std::uint64_t line_ = 0;
    std::unique_ptr<char[]> buffer_;
    std::size_t begin_ = 0, end_ = 0;
    bool eof_ = false;
};

// Opens a path ("-" for stdin). On failure returns null and sets `error` to a one-line
// message that says what to fix.
std::unique_ptr<id_source> open_input(const std::string& path, std::string& error);

}  // namespace koorelease
