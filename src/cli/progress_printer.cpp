#include "progress_printer.hpp"

namespace koorelease::cli {

std::string progress_printer::format(const progress_snapshot& p, double current_rps) {
    const std::uint64_t done = p.released + p.failed;
    std::string total = "?";
    double eta_s = -1;
    if (p.input_done) {
        total = std::to_string(p.ids_read);
    } else if (p.input_size > 0 && p.input_bytes_read > 0) {
        // Estimate the ids in the file from the share of it read so far.
        const double est = static_cast<double>(p.ids_read) * static_cast<double>(p.input_size) /
                           static_cast<double>(p.input_bytes_read);
        total = "~" + std::to_string(static_cast<std::uint64_t>(est));
    }
    const double known_total = p.input_done ? static_cast<double>(p.ids_read)
                               : (p.input_size > 0 && p.input_bytes_read > 0)
                                   ? static_cast<double>(p.ids_read) * static_cast<double>(p.input_size) /
                                         static_cast<double>(p.input_bytes_read)
                                   : -1;
    if (known_total >= 0 && current_rps > 0) eta_s = (known_total - static_cast<double>(done)) / current_rps;
    char line[320];
    std::snprintf(line, sizeof line,
                  "%llu/%s done: %llu released, %llu failed, %llu in flight, %llu waiting retry, %.0f req/s",
                  static_cast<unsigned long long>(done), total.c_str(),
                  static_cast<unsigned long long>(p.released), static_cast<unsigned long long>(p.failed),
                  static_cast<unsigned long long>(p.in_flight),
                  static_cast<unsigned long long>(p.waiting_retry), current_rps);
    std::string out = line;
    if (p.rate_limit > 0) {
        std::snprintf(line, sizeof line, ", limit %.0f/s%s", p.rate_limit, p.rate_lowered ? " (lowered by throttling)" : "");
        out += line;
    }
    if (eta_s >= 0) {
        std::snprintf(line, sizeof line, ", ETA %.0fs", eta_s);
        out += line;
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
    if (quiet_) return;
    last_line_ = format(p, current_rps_);
    if (terminal_) {
        std::fprintf(stderr, "\r\033[K%s", last_line_.c_str());
        std::fflush(stderr);
        line_shown_ = true;
    } else if (p.elapsed_s - last_plain_s_ >= plain_every_s_) {
        last_plain_s_ = p.elapsed_s;
        std::fprintf(stderr, "koorelease: progress: %s\n", last_line_.c_str());
    }
}

void progress_printer::message(std::string_view text) {
    if (terminal_ && line_shown_) std::fputs("\r\033[K", stderr);
    std::fprintf(stderr, "koorelease: %.*s\n", static_cast<int>(text.size()), text.data());
    if (terminal_ && line_shown_ && !quiet_) std::fprintf(stderr, "%s", last_line_.c_str());
    std::fflush(stderr);
}

void progress_printer::finish() {
    if (terminal_ && line_shown_ && !quiet_) {
        std::fprintf(stderr, "\r\033[K%s\n", last_line_.c_str());
        line_shown_ = false;
    }
}

}  // namespace koorelease::cli
