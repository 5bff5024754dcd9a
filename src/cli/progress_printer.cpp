#include "progress_printer.hpp"

namespace koorelease::cli {

std::optional<progress_mode> choose_progress_mode(std::string_view option, bool quiet,
                                                  bool stderr_is_terminal, bool log_on_stderr) {
    std::optional<progress_mode> mode;
    if (option == "auto") {
        // The live line redraws itself with \r: on a file, or between log lines, it is noise.
        mode = stderr_is_terminal && !log_on_stderr ? progress_mode::live : progress_mode::off;
    } else if (option == "plain") {
        mode = progress_mode::plain;
    } else if (option == "off") {
        mode = progress_mode::off;
    } else {
        return std::nullopt;
    }
    return quiet ? progress_mode::off : *mode;
}

std::string format_eta(double seconds) {
    const auto s = static_cast<unsigned long long>(seconds + 0.5);
    char text[48];
    if (s < 60) {
        std::snprintf(text, sizeof text, "%llus", s);
    } else if (s < 3600) {
        std::snprintf(text, sizeof text, "%llum%02llus", s / 60, s % 60);
    } else {
        std::snprintf(text, sizeof text, "%lluh%02llum", s / 3600, s / 60 % 60);
    }
    return text;
}

std::string progress_printer::format(const progress_snapshot& p, double current_rps) {
    const std::uint64_t done = p.released + p.failed;
    std::string total = "?";
    // The ids in the whole input: known once it is read; before, estimated from the share of
    // the file read so far (not for stdin, whose size is unknown).
    double known_total = -1;
    if (p.input_done) {
        known_total = static_cast<double>(p.ids_read);
        total = std::to_string(p.ids_read);
    } else if (p.input_size > 0 && p.input_bytes_read > 0) {
        // In the reader's own terms (its lines and bytes), not the engine's ids: the reader runs
        // a queue's length ahead of them. Counts comment and blank lines as ids: a slight over-estimate.
        const double read = p.input_lines_read > 0 ? static_cast<double>(p.input_lines_read)
                                                   : static_cast<double>(p.ids_read);
        known_total = read * static_cast<double>(p.input_size) / static_cast<double>(p.input_bytes_read);
        total = "~" + std::to_string(static_cast<std::uint64_t>(known_total));
    }
    char line[320];
    std::snprintf(
        line, sizeof line,
        "%llu/%s done: %llu released, %llu failed, %llu in flight, %llu waiting retry, %.0f req/s",
        static_cast<unsigned long long>(done), total.c_str(),
        static_cast<unsigned long long>(p.released), static_cast<unsigned long long>(p.failed),
        static_cast<unsigned long long>(p.in_flight),
        static_cast<unsigned long long>(p.waiting_retry), current_rps);
    std::string out = line;
    if (p.rate_limit > 0) {
        std::snprintf(line, sizeof line, ", limit %.0f/s%s", p.rate_limit,
                      p.rate_lowered ? " (lowered by throttling)" : "");
        out += line;
    }
    if (known_total >= 0 && current_rps > 0) {
        const double left =
            known_total > static_cast<double>(done) ? known_total - static_cast<double>(done) : 0;
        out += ", ETA " + format_eta(left / current_rps);
    }
    return out;
}

void progress_printer::update(const progress_snapshot& p) {
    // The current rate over the last update interval, smoothed a little.
    const double dt = p.elapsed_s - last_elapsed_;
    if (dt > 0) {
        const double rps = static_cast<double>(p.requests - last_requests_) / dt;
        current_rps_ = current_rps_ == 0 ? rps : 0.7 * current_rps_ + 0.3 * rps;
        last_elapsed_ = p.elapsed_s;
        last_requests_ = p.requests;
    }
    if (mode_ == progress_mode::off) return;
    last_line_ = format(p, current_rps_);
    unprinted_ = true;
    if (mode_ == progress_mode::live) {
        std::fprintf(out_, "\r\033[K%s", last_line_.c_str());
        std::fflush(out_);
        line_shown_ = true;
    } else if (p.elapsed_s - last_plain_s_ >= plain_every_s_) {
        last_plain_s_ = p.elapsed_s;
        std::fprintf(out_, "koorelease: progress: %s\n", last_line_.c_str());
        std::fflush(out_);
        unprinted_ = false;
    }
}

void progress_printer::message(std::string_view text) {
    if (line_shown_) std::fputs("\r\033[K", out_);
    std::fprintf(out_, "koorelease: %.*s\n", static_cast<int>(text.size()), text.data());
    if (line_shown_) std::fprintf(out_, "%s", last_line_.c_str());
    std::fflush(out_);
}

void progress_printer::finish() {
    if (mode_ == progress_mode::live && line_shown_) {
        std::fprintf(out_, "\r\033[K%s\n", last_line_.c_str());
        line_shown_ = false;
    } else if (mode_ == progress_mode::plain && unprinted_) {
        std::fprintf(out_, "koorelease: progress: %s\n", last_line_.c_str());
    }
    std::fflush(out_);
}

}  // namespace koorelease::cli
