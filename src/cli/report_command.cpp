// `koorelease report JOURNAL...`: the summary of outcome journals, or the ids that failed.
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "koorelease/report.hpp"

namespace koorelease::cli {

namespace {

struct report_options {
    std::vector<std::string> journals;
    bool failed = false;
    std::string format = "text";
};

int run(const report_options& o) {
    std::vector<journal_entry> entries;
    for (const auto& path : o.journals) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "koorelease: cannot read the journal '%s': %s (give the --output file of a release run)\n",
                         path.c_str(), std::strerror(errno));
            return 2;
        }
        std::ostringstream text;
        text << in.rdbuf();
        std::string error;
        std::vector<std::string> warnings;
        const bool ok = parse_journal(text.str(), path, entries, error, warnings);
        for (const auto& w : warnings) std::fprintf(stderr, "koorelease: warning: %s\n", w.c_str());
        if (!ok) {
            std::fprintf(stderr, "koorelease: %s\n", error.c_str());
            return 2;
        }
    }
    const journal_report r = summarize(entries);
    std::string out;
    if (o.failed) {
        for (const auto& id : r.failed_ids) out += id + "\n";
    } else if (o.format == "json") {
        out = format_report_json(r);
    } else {
        out = format_report_text(r);
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (std::fflush(stdout) != 0) {
        std::fprintf(stderr, "koorelease: cannot write the report: %s\n", std::strerror(errno));
        return 2;
    }
    return 0;
}

}  // namespace

void add_report_command(CLI::App& root, command_action& action) {
    auto opts = std::make_shared<report_options>();
    CLI::App* cmd = root.add_subcommand(
        "report",
        "Summarize outcome journals written by `release --output`: ids by outcome and error code, attempts, "
        "latency percentiles, duration. With several journals (or a resumed one) each id counts once, by its "
        "last record. Exit 0, or 2 when a file cannot be read or a line is not a journal record.");
    cmd->add_option("journals", opts->journals, "Journal files (JSON Lines), in the order they were written")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_flag("--failed", opts->failed,
                  "Print only the ids whose last record failed, one per line (for release --input)");
    cmd->add_option("--format", opts->format, "text or json")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    cmd->callback([&action, opts] { action = [opts] { return run(*opts); }; });
}

}  // namespace koorelease::cli
