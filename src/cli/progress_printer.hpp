#pragma once
// The progress line on stderr: refreshed in place on a terminal, a plain line every
// `plain_every` seconds otherwise (for logs), nothing with --quiet.
#include <cstdio>
#include <string>
#include <string_view>

#include "koorelease/engine.hpp"

namespace koorelease::cli {

class progress_printer {
public:
    progress_printer(bool terminal, bool quiet, double plain_every_s = 10.0)
        : terminal_(terminal), quiet_(quiet), plain_every_s_(plain_every_s) {}

    void update(const progress_snapshot& p);
    // A notice: printed on a line of its own, the live line redrawn after it.
    void message(std::string_view text);
    // Ends the live line.
    void finish();

    static std::string format(const progress_snapshot& p, double current_rps);

private:
    bool terminal_;
    bool quiet_;
    double plain_every_s_;
    double last_plain_s_ = 0;
    bool line_shown_ = false;
    std::string last_line_;
    double last_elapsed_ = 0;
    std::uint64_t last_requests_ = 0;
    double current_rps_ = 0;
};

}  // namespace koorelease::cli
