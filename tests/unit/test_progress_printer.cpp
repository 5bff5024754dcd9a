// The progress line: what it says, and when it is printed in each --progress mode.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "cli/progress_printer.hpp"

namespace koorelease::cli {
namespace {

TEST(ProgressMode, AutoIsTheLiveLineOnlyOnATerminalWithoutTheLog) {
    EXPECT_EQ(choose_progress_mode("auto", false, true, false), progress_mode::live);
    EXPECT_EQ(choose_progress_mode("auto", false, false, false), progress_mode::off);
    EXPECT_EQ(choose_progress_mode("auto", false, true, true), progress_mode::off);
    EXPECT_EQ(choose_progress_mode("plain", false, false, false), progress_mode::plain);
    EXPECT_EQ(choose_progress_mode("plain", false, true, true), progress_mode::plain);
    EXPECT_EQ(choose_progress_mode("off", false, true, false), progress_mode::off);
    for (const char* option : {"auto", "plain", "off"}) {
        for (int terminal = 0; terminal < 2; ++terminal) {
            EXPECT_EQ(choose_progress_mode(option, true, terminal == 1, false), progress_mode::off)
                << option;
        }
    }
    EXPECT_FALSE(choose_progress_mode("live", false, true, false).has_value());
    EXPECT_FALSE(choose_progress_mode("", false, true, false).has_value());
}

TEST(ProgressFormat, Eta) {
    EXPECT_EQ(format_eta(0), "0s");
    EXPECT_EQ(format_eta(44.6), "45s");
    EXPECT_EQ(format_eta(59.4), "59s");
    EXPECT_EQ(format_eta(60), "1m00s");
    EXPECT_EQ(format_eta(725), "12m05s");
    EXPECT_EQ(format_eta(3599), "59m59s");
    EXPECT_EQ(format_eta(3600), "1h00m");
    EXPECT_EQ(format_eta(7380), "2h03m");
}

progress_snapshot snapshot() {
    progress_snapshot p;
    p.ids_read = 1000;
    p.released = 400;
    p.failed = 100;
    p.in_flight = 32;
    p.waiting_retry = 3;
    p.requests = 560;
    return p;
}

TEST(ProgressFormat, WholeInputRead) {
    auto p = snapshot();
    p.input_done = true;
    EXPECT_EQ(progress_printer::format(p, 100),
              "500/1000 done: 400 released, 100 failed, 32 in flight, 3 waiting retry, 100 req/s, "
              "ETA 5s");
}

TEST(ProgressFormat, TotalEstimatedFromTheShareOfTheFileRead) {
    auto p = snapshot();
    p.input_size = 40'000;
    p.input_bytes_read = 10'000;  // a quarter read, 1000 ids: about 4000 in all
    EXPECT_EQ(progress_printer::format(p, 50),
              "500/~4000 done: 400 released, 100 failed, 32 in flight, 3 waiting retry, 50 req/s, "
              "ETA 1m10s");
}

TEST(ProgressFormat, TheEstimateUsesTheReadersLinesWhenItGivesThem) {
    auto p = snapshot();  // the engine has 1000 ids; the reader is further on
    p.input_size = 40'000;
    p.input_bytes_read = 20'000;
    p.input_lines_read = 2'000;  // half the file in 2000 lines: about 4000 in all
    EXPECT_NE(progress_printer::format(p, 50).find("500/~4000 done"), std::string::npos);
}

TEST(ProgressFormat, StdinHasNoTotalAndNoEta) {
    auto p = snapshot();
    EXPECT_EQ(progress_printer::format(p, 50),
              "500/? done: 400 released, 100 failed, 32 in flight, 3 waiting retry, 50 req/s");
}

TEST(ProgressFormat, NoEtaBeforeTheFirstAnswers) {
    auto p = snapshot();
    p.input_done = true;
    EXPECT_EQ(progress_printer::format(p, 0).find("ETA"), std::string::npos);
}

TEST(ProgressFormat, RateLimitAndThrottling) {
    auto p = snapshot();
    p.input_done = true;
    p.rate_limit = 200;
    EXPECT_NE(progress_printer::format(p, 100).find(", limit 200/s, ETA"), std::string::npos);
    p.rate_limit = 140;
    p.rate_lowered = true;
    EXPECT_NE(progress_printer::format(p, 100).find(", limit 140/s (lowered by throttling), ETA"),
              std::string::npos);
}

TEST(ProgressFormat, DoneNeverBeyondTotalGivesEtaZero) {
    auto p = snapshot();
    p.input_done = true;
    p.ids_read = 500;
    EXPECT_NE(progress_printer::format(p, 10).find("ETA 0s"), std::string::npos);
}

// The printer's output, captured in memory.
struct captured {
    char* data = nullptr;
    std::size_t size = 0;
    std::FILE* file = ::open_memstream(&data, &size);
    ~captured() {
        if (file != nullptr) std::fclose(file);
        std::free(data);
    }
    std::string text() {
        std::fflush(file);
        return std::string(data, size);
    }
};

int count(const std::string& text, const std::string& what) {
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

TEST(ProgressPrinter, PlainPrintsALineEveryIntervalAndTheLastStateAtTheEnd) {
    captured out;
    progress_printer printer(progress_mode::plain, 10.0, out.file);
    auto p = snapshot();
    for (int i = 1; i <= 100; ++i) {  // 25 s in steps of 250 ms
        p.elapsed_s = i * 0.25;
        p.requests += 10;
        printer.update(p);
    }
    EXPECT_EQ(count(out.text(), "koorelease: progress: "), 2);  // at 10 s and 20 s
    EXPECT_EQ(out.text().find('\r'), std::string::npos);
    printer.finish();
    EXPECT_EQ(count(out.text(), "koorelease: progress: "), 3);
    EXPECT_EQ(count(out.text(), "\n"), 3);
}

TEST(ProgressPrinter, PlainDoesNotRepeatALineJustPrinted) {
    captured out;
    progress_printer printer(progress_mode::plain, 1.0, out.file);
    auto p = snapshot();
    p.elapsed_s = 1.0;
    printer.update(p);
    printer.finish();
    EXPECT_EQ(count(out.text(), "koorelease: progress: "), 1);
}

TEST(ProgressPrinter, LiveRedrawsInPlaceAndEndsTheLine) {
    captured out;
    progress_printer printer(progress_mode::live, 10.0, out.file);
    auto p = snapshot();
    p.elapsed_s = 0.25;
    printer.update(p);
    p.elapsed_s = 0.5;
    printer.update(p);
    EXPECT_EQ(count(out.text(), "\r\033[K"), 2);
    EXPECT_EQ(count(out.text(), "\n"), 0);
    printer.message("a notice");
    EXPECT_NE(out.text().find("\r\033[Kkoorelease: a notice\n500/?"), std::string::npos);
    printer.finish();
    EXPECT_EQ(out.text().back(), '\n');
}

TEST(ProgressPrinter, OffPrintsOnlyMessages) {
    captured out;
    progress_printer printer(progress_mode::off, 1.0, out.file);
    auto p = snapshot();
    for (int i = 1; i <= 20; ++i) {
        p.elapsed_s = i;
        printer.update(p);
    }
    printer.finish();
    EXPECT_EQ(out.text(), "");
    printer.message("notice");
    EXPECT_EQ(out.text(), "koorelease: notice\n");
}

TEST(ProgressPrinter, CurrentRateIsMeasuredBetweenUpdates) {
    captured out;
    progress_printer printer(progress_mode::plain, 1.0, out.file);
    auto p = snapshot();
    p.requests = 0;
    p.elapsed_s = 0.5;
    printer.update(p);  // 0 req/s so far
    p.requests = 100;
    p.elapsed_s = 1.0;  // 100 requests in 0.5 s
    printer.update(p);
    EXPECT_NE(out.text().find(", 200 req/s"), std::string::npos) << out.text();
}

}  // namespace
}  // namespace koorelease::cli
