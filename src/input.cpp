#include "koorelease/input.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <simdjson.h>

#include "koorelease/json_text.hpp"

namespace koorelease {

namespace {

constexpr std::size_t buffer_size = 64 * 1024;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// The checks every id passes, however it was written.
parsed_line check_id(std::string_view id) {
    if (id.empty()) return {parsed_line::kind::invalid, "empty instance id"};
    if (id.size() > max_id_length) {
        return {parsed_line::kind::invalid, "line too long for an instance id (over 128 bytes)"};
    }
    for (char ch : id) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) return {parsed_line::kind::invalid, "control character in the line"};
    }
    if (!is_valid_utf8(id)) return {parsed_line::kind::invalid, "invalid UTF-8 in the line"};
    return {parsed_line::kind::id, id};
}

// A JSON Lines record (a koorelease journal line, or any object with "instance_id").
parsed_line parse_json_line(std::string_view line) {
    thread_local simdjson::dom::parser parser;
    thread_local std::string id;
    simdjson::dom::element doc;
    if (parser.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
        return {parsed_line::kind::invalid, "a line starting with '{' that is not a JSON object"};
    }
    std::string_view value;
    if (doc["instance_id"].get(value) != simdjson::SUCCESS) {
        return {parsed_line::kind::invalid, "a JSON line without an \"instance_id\" string"};
    }
    id.assign(value);
    return check_id(id);
}

}  // namespace

parsed_line parse_line(std::string_view raw) {
    while (!raw.empty() && is_space(raw.front())) raw.remove_prefix(1);
    while (!raw.empty() && is_space(raw.back())) raw.remove_suffix(1);
    if (raw.empty() || raw.front() == '#') return {parsed_line::kind::skip, {}};
    if (raw.front() == '{') {
        // JSON Lines: a journal is an input too. Its lines are longer than any id.
        if (raw.size() > max_json_line_length) {
            return {parsed_line::kind::invalid, "JSON line too long (over 64 KiB)"};
        }
        return parse_json_line(raw);
    }
    return check_id(raw);
}

line_reader::line_reader(int fd, std::string name, std::uint64_t size_hint)
    : fd_(fd), wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), name_(std::move(name)),
      size_hint_(size_hint), buffer_(new char[buffer_size]) {}

line_reader::~line_reader() {
    if (fd_ > 0) ::close(fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

void line_reader::cancel() {
    cancelled_ = true;
    const std::uint64_t one = 1;
    if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
}

bool line_reader::fill() {
    if (eof_) return false;
    if (begin_ > 0) {
        std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    if (before_blocking_read) before_blocking_read();
    for (;;) {
        if (cancelled_) {
            eof_ = true;
            return false;
        }
        // Wait for input or for cancel(): a pipe whose writer is slow must not keep a
        // stopping run from ending.
        pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        if (::poll(fds, wake_fd_ >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error("cannot read input " + name_ + ": " + std::strerror(errno));
        }
        if (cancelled_) continue;
        const auto n = ::read(fd_, buffer_.get() + end_, buffer_size - end_);
        if (n > 0) {
            end_ += static_cast<std::size_t>(n);
            total_read_ += static_cast<std::uint64_t>(n);
            return true;
        }
        if (n == 0) {
            eof_ = true;
            return false;
        }
        if (errno == EINTR || errno == EAGAIN) continue;
        throw std::runtime_error("cannot read input " + name_ + ": " + std::strerror(errno));
    }
}

bool line_reader::next(input_item& out) {
    for (;;) {
        // Find a whole line in the buffer, reading more as needed.
        const char* nl = nullptr;
        bool too_long = false;
        for (;;) {
            nl = static_cast<const char*>(std::memchr(buffer_.get() + begin_, '\n', end_ - begin_));
            if (nl != nullptr) break;
            if (begin_ == 0 && end_ == buffer_size) {
                // A line longer than the whole buffer: drop it up to its newline.
                too_long = true;
                end_ = 0;
                while (fill()) {
                    nl = static_cast<const char*>(std::memchr(buffer_.get(), '\n', end_));
                    if (nl != nullptr) break;
                    end_ = 0;
                }
                break;
            }
            if (!fill()) break;
        }
        std::string_view raw;
        if (nl != nullptr) {
            raw = std::string_view(buffer_.get() + begin_, static_cast<std::size_t>(nl - (buffer_.get() + begin_)));
            begin_ = static_cast<std::size_t>(nl - buffer_.get()) + 1;
        } else if (too_long || begin_ < end_) {
            // The last line, without a final newline.
            raw = std::string_view(buffer_.get() + begin_, end_ - begin_);
            begin_ = end_;
        } else {
            return false;
        }
        ++line_;
        bytes_read_.store(total_read_ - (end_ - begin_), std::memory_order_relaxed);
        lines_read_.store(line_, std::memory_order_relaxed);
        // A byte order mark (files saved as "UTF-8 with BOM") is not part of the first id.
        if (line_ == 1 && raw.starts_with("\xEF\xBB\xBF")) raw.remove_prefix(3);
        if (too_long) {
            out.valid = false;
            out.text = "line too long for an instance id (over 128 bytes)";
            out.line = line_;
            return true;
        }
        const auto parsed = parse_line(raw);
        if (parsed.what == parsed_line::kind::skip) continue;
        out.valid = parsed.what == parsed_line::kind::id;
        out.text.assign(parsed.text);
        out.line = line_;
        return true;
    }
}

std::unique_ptr<id_source> open_input(const std::string& path, std::string& error) {
    if (path == "-") return std::make_unique<line_reader>(0, "<stdin>");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = "cannot open input file '" + path + "': " + std::strerror(errno) +
                " (give an existing, readable file of instance ids, one per line, or - for stdin)";
        return nullptr;
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        ::close(fd);
        error = "input '" + path + "' is a directory (give a file of instance ids, one per line)";
        return nullptr;
    }
    const std::uint64_t size = (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ? static_cast<std::uint64_t>(st.st_size) : 0;
    return std::make_unique<line_reader>(fd, "'" + path + "'", size);
}

}  // namespace koorelease
