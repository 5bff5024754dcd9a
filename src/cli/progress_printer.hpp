#pragma once
// The progress line on stderr (--progress): `live`, one line refreshed in place on a terminal;
// `plain`, a line every --progress-interval (and one at the end), for logs; `off`.
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "koorelease/engine.hpp"

namespace koorelease::cli {

enum class progress_mode { live, plain, off };

// What --progress (auto, plain, off) means here: auto is the live line when stderr is a
// terminal that the log does not write to, nothing otherwise; --quiet is off whatever else.
// nullopt for an unknown name.
std::optional<progress_mode> choose_progress_mode(std::string_view option, bool quiet,
                                                  bool stderr_is_terminal, bool log_on_stderr);

// "45s", "12m05s", "2h03m": short enough for a progress line.
std::string format_eta(double seconds);

class progress_printer {
  public:
    // `plain_every_s`: seconds between lines in plain mode. `out`: stderr, or a test's file.
    progress_printer(progress_mode mode, double plain_every_s = 10.0, std::FILE* out = stderr)
        : mode_(mode), plain_every_s_(plain_every_s), out_(out) {}

    void update(const progress_snapshot& p);
    // A notice: printed on a line of its own, the live line redrawn after it.
    void message(std::string_view text);
    // Ends the live line; in plain mode prints the last state.
    void finish();

    // done/total released, failed, in flight, waiting retry, current req/s, the rate limit in
    // force (and whether throttling lowered it), ETA.
    static std::string format(const progress_snapshot& p, double current_rps);

  private:
    progress_mode mode_;
    double plain_every_s_;
    std::FILE* out_;
    double last_plain_s_ = 0;
    bool line_shown_ = false;
    bool unprinted_ = false;  // plain: the last state was not printed yet
    std::string last_line_;
    double last_elapsed_ = 0;
    std::uint64_t last_requests_ = 0;
    double current_rps_ = 0;
};

}  // namespace koorelease::cli
