// --metrics-file, --pushgateway and `koorelease report`, on journals and metrics of real runs
// against the mock; the Pushgateway is a small fake HTTP server on 127.0.0.1 in this process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "support/mock.hpp"

namespace koorelease::test {
namespace {

// ---- a tiny parser of the Prometheus text exposition ----------------------------------------

struct exposition {
    std::map<std::string, std::string> types;               // family name -> counter, gauge, ...
    std::set<std::string> helped;                           // families with a HELP line
    std::map<std::string, double> samples;                  // `name{a="x",b="y"}` -> value
};

// Parses the text, failing the test on any line that is not HELP, TYPE or a sample of a
// declared family, or whose labels are not name="escaped value".
exposition parse_exposition(const std::string& text) {
    exposition e;
    std::size_t at = 0;
    while (at < text.size()) {
        const auto end = text.find('\n', at);
        EXPECT_NE(end, std::string::npos) << "the exposition must end with a newline";
        if (end == std::string::npos) break;
        const std::string line = text.substr(at, end - at);
        at = end + 1;
        if (line.rfind("# HELP ", 0) == 0) {
            e.helped.insert(line.substr(7, line.find(' ', 7) - 7));
            continue;
        }
        if (line.rfind("# TYPE ", 0) == 0) {
            const auto space = line.find(' ', 7);
            e.types[line.substr(7, space - 7)] = line.substr(space + 1);
            continue;
        }
        std::size_t i = 0;
        while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_')) ++i;
        const std::string name = line.substr(0, i);
        std::string key = name;
        if (i < line.size() && line[i] == '{') {
            key += '{';
            ++i;
            bool first = true;
            while (i < line.size() && line[i] != '}') {
                if (!first) {
                    EXPECT_EQ(line[i], ',') << line;
                    ++i;
                }
                first = false;
                const auto eq = line.find('=', i);
                EXPECT_NE(eq, std::string::npos) << line;
                if (eq == std::string::npos) return e;
                const std::string label = line.substr(i, eq - i);
                EXPECT_EQ(line[eq + 1], '"') << line;
                std::string value;
                i = eq + 2;
                for (; i < line.size() && line[i] != '"'; ++i) {
                    if (line[i] == '\\') {
                        ++i;
                        value += line[i] == 'n' ? '\n' : line[i];
                        EXPECT_TRUE(line[i] == 'n' || line[i] == '\\' || line[i] == '"') << line;
                    } else {
                        value += line[i];
                    }
                }
                ++i;  // closing quote
                key += (key.back() == '{' ? "" : ",") + label + "=\"" + value + "\"";
            }
            key += '}';
            ++i;
        }
        EXPECT_EQ(line[i], ' ') << line;
        const std::string number = line.substr(i + 1);
        const double value = number == "+Inf" ? HUGE_VAL : std::stod(number);
        std::string family = name;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            const std::string s = suffix;
            if (!e.types.contains(family) && family.size() > s.size() &&
                family.compare(family.size() - s.size(), s.size(), s) == 0) {
                family.resize(family.size() - s.size());
            }
        }
        EXPECT_TRUE(e.types.contains(family)) << "no TYPE for " << name;
        EXPECT_TRUE(e.helped.contains(family)) << "no HELP for " << name;
        EXPECT_FALSE(e.samples.contains(key)) << "repeated sample " << key;
        e.samples[key] = value;
    }
    return e;
}

double sample(const exposition& e, const std::string& key) {
    const auto it = e.samples.find(key);
    EXPECT_NE(it, e.samples.end()) << "no sample " << key;
    return it == e.samples.end() ? -1 : it->second;
}

// ---- journal facts to compare with ------------------------------------------------------------

struct journal_facts {
    std::map<std::string, std::uint64_t> outcomes;
    std::map<std::string, std::uint64_t> error_codes;  // of the last answer of each record
    std::uint64_t attempts = 0;
    std::vector<std::string> failed;
};

journal_facts facts_of(const std::vector<std::string>& lines) {
    journal_facts f;
    simdjson::dom::parser parser;
    for (const auto& line : lines) {
        simdjson::dom::element doc = parser.parse(line);
        const std::string outcome{std::string_view(doc["outcome"])};
        ++f.outcomes[outcome];
        std::string_view code;
        if (doc["error_code"].get(code) == simdjson::SUCCESS) ++f.error_codes[std::string(code)];
        std::uint64_t n = 0;
        if (doc["attempts"].get(n) == simdjson::SUCCESS) f.attempts += n;
        if (outcome == "failed") f.failed.emplace_back(std::string_view(doc["instance_id"]));
    }
    return f;
}

// ---- a fake Pushgateway ------------------------------------------------------------------------

struct pushed_request {
    std::string method, path, content_type, body;
};

// Accepts connections on 127.0.0.1, reads one HTTP request from each (Content-Length body),
// records it and answers `status`.
class fake_pushgateway {
public:
    explicit fake_pushgateway(int status = 200) : status_(status) {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_, 16) != 0) {
            throw std::runtime_error(std::string("fake pushgateway: ") + std::strerror(errno));
        }
        socklen_t len = sizeof addr;
        ::getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        if (::pipe2(stop_, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        thread_ = std::thread([this] { serve(); });
    }
    ~fake_pushgateway() {
        (void)!::write(stop_[1], "x", 1);
        thread_.join();
        ::close(listen_);
        ::close(stop_[0]);
        ::close(stop_[1]);
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<pushed_request> requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }

private:
    void serve() {
        for (;;) {
            pollfd fds[2] = {{listen_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) continue;
            if (fds[1].revents) return;
            const int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            handle(c);
            ::close(c);
        }
    }
    // Reads with a deadline: a client that stalls must not hang the test.
    bool read_some(int c, std::string& in) {
        pollfd fd{c, POLLIN, 0};
        if (::poll(&fd, 1, 10'000) <= 0) return false;
        char buf[4096];
        const auto n = ::read(c, buf, sizeof buf);
        if (n <= 0) return false;
        in.append(buf, static_cast<std::size_t>(n));
        return true;
    }
    void handle(int c) {
        std::string in;
        std::size_t head_end;
        while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
            if (!read_some(c, in)) return;
        }
        pushed_request r;
        const std::string head = in.substr(0, head_end);
        r.method = head.substr(0, head.find(' '));
        const auto path_start = head.find(' ') + 1;
        r.path = head.substr(path_start, head.find(' ', path_start) - path_start);
        std::size_t length = 0;
        std::string lower = head;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
        if (const auto cl = lower.find("\r\ncontent-length:"); cl != std::string::npos) {
            length = std::stoul(head.substr(cl + 17));
        }
        if (const auto ct = lower.find("\r\ncontent-type:"); ct != std::string::npos) {
            const auto start = head.find_first_not_of(' ', ct + 15);
            r.content_type = head.substr(start, head.find("\r\n", start) - start);
        }
        while (in.size() < head_end + 4 + length) {
            if (!read_some(c, in)) return;
        }
        r.body = in.substr(head_end + 4, length);
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(std::move(r));
        }
        const std::string answer = "HTTP/1.1 " + std::to_string(status_) +
                                   " Fake\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
                                   "fake body";
        (void)!::write(c, answer.data(), answer.size());
    }

    int status_;
    int listen_ = -1;
    int stop_[2] = {-1, -1};
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<pushed_request> requests_;
};

// ---- helpers -------------------------------------------------------------------------------

std::vector<std::string> client_args(const mock_server& m, const std::string& input) {
    return {"--endpoint", m.url(), "--ca-file", m.ca_file(), "--input", input};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// 200 ids that the mock releases and 10 it answers KOOPHONE.API.4001 (instance not found).
std::string write_mixed_ids(const temp_dir& dir) {
    std::string text;
    for (int i = 0; i < 200; ++i) text += "i-" + std::to_string(i) + "\n";
    for (int i = 0; i < 10; ++i) text += "missing-" + std::to_string(i) + "\n";
    write_file(dir.file("ids.txt"), text);
    return dir.file("ids.txt");
}

struct command_result {
    int exit_code = -1;
    std::string out, err;
};

command_result run_command(const temp_dir& dir, std::vector<std::string> args) {
    spawn_options o;
    o.args = std::move(args);
    o.stdout_file = dir.file("cmd.out");
    o.stderr_file = dir.file("cmd.err");
    child c(o);
    command_result r;
    r.exit_code = c.wait(std::chrono::seconds(60)).value_or(-1);
    r.out = read_file(dir.file("cmd.out"));
    r.err = read_file(dir.file("cmd.err"));
    return r;
}

void expect_no_temporary_files(const temp_dir& dir) {
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        EXPECT_NE(entry.path().filename().string().rfind(".metrics.prom.", 0), 0u) << entry.path();
    }
}

// The exposition agrees with the journal of the same run.
void expect_matches_journal(const exposition& e, const journal_facts& f, std::uint64_t ids) {
    EXPECT_EQ(sample(e, "koorelease_ids_total{outcome=\"released\"}"), double(f.outcomes.at("released")));
    EXPECT_EQ(sample(e, "koorelease_ids_total{outcome=\"failed\"}"), double(f.outcomes.at("failed")));
    EXPECT_EQ(sample(e, "koorelease_ids_total{outcome=\"invalid\"}"), 0);
    EXPECT_EQ(sample(e, "koorelease_ids_total{outcome=\"aborted\"}"), 0);
    EXPECT_EQ(sample(e, "koorelease_ids_total{outcome=\"not_sent\"}"), 0);
    EXPECT_EQ(f.outcomes.at("released") + f.outcomes.at("failed"), ids);
    // A clean mock: one attempt per id, every one answered.
    EXPECT_EQ(sample(e, "koorelease_requests_total"), double(f.attempts));
    EXPECT_EQ(sample(e, "koorelease_retries_total"), 0);
    EXPECT_EQ(sample(e, "koorelease_throttled_total"), 0);
    EXPECT_EQ(sample(e, "koorelease_answers_total{status=\"200\",error_code=\"0\"}"), double(f.error_codes.at("0")));
    double answers = 0;
    for (const auto& [key, value] : e.samples) {
        if (key.rfind("koorelease_answers_total{", 0) == 0) answers += value;
    }
    EXPECT_EQ(answers, double(f.attempts));
    std::uint64_t not_found = 0;
    for (const auto& [key, value] : e.samples) {
        if (key.find("error_code=\"KOOPHONE.API.4001\"") != std::string::npos) not_found += std::uint64_t(value);
    }
    EXPECT_EQ(not_found, f.error_codes.at("KOOPHONE.API.4001"));
    EXPECT_EQ(e.types.at("koorelease_request_duration_seconds"), "histogram");
    EXPECT_EQ(sample(e, "koorelease_request_duration_seconds_count"), double(f.attempts));
    EXPECT_EQ(sample(e, "koorelease_request_duration_seconds_bucket{le=\"+Inf\"}"), double(f.attempts));
    EXPECT_GT(sample(e, "koorelease_request_duration_seconds_sum"), 0);
    // Buckets never decrease.
    double previous = 0;
    for (const char* le : {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
                           "10", "30", "+Inf"}) {
        const double v = sample(e, std::string("koorelease_request_duration_seconds_bucket{le=\"") + le + "\"}");
        EXPECT_GE(v, previous) << le;
        previous = v;
    }
}

// ---- --metrics-file ------------------------------------------------------------------------

TEST(MetricsFile, ParsedAfterARealRunAgreesWithTheJournal) {
    mock_server mock;
    temp_dir dir;
    const auto metrics = dir.file("metrics.prom");
    const double before = double(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch()).count());
    const auto r = run_release(dir, client_args(mock, write_mixed_ids(dir)) + std::vector<std::string>{"--metrics-file", metrics});
    ASSERT_EQ(r.exit_code, 1) << r.stderr_text;  // the missing- ids failed
    const auto text = read_file(metrics);
    EXPECT_EQ(text.find(test_token), std::string::npos);
    const auto e = parse_exposition(text);
    expect_matches_journal(e, facts_of(r.journal), 210);
    EXPECT_EQ(sample(e, "koorelease_answers_total{status=\"200\",error_code=\"0\"}"), 200);
    const double start = sample(e, "koorelease_run_start_timestamp_seconds");
    const double end = sample(e, "koorelease_run_end_timestamp_seconds");
    EXPECT_GE(start, before);
    EXPECT_GE(end, start);
    EXPECT_NEAR(sample(e, "koorelease_run_duration_seconds"), end - start, 1e-3);
    EXPECT_EQ(sample(e, "koorelease_run_exit_code"), 1);
    EXPECT_FALSE(e.samples.contains("koorelease_last_success_timestamp_seconds")) << "the run failed some ids";
    EXPECT_EQ(e.types.at("koorelease_ids_total"), "counter");
    expect_no_temporary_files(dir);
}

TEST(MetricsFile, ASuccessfulRunHasItsLastSuccessTime) {
    mock_server mock;
    temp_dir dir;
    const auto metrics = dir.file("metrics.prom");
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "i-", 50)) + std::vector<std::string>{"--metrics-file", metrics});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto e = parse_exposition(read_file(metrics));
    EXPECT_EQ(sample(e, "koorelease_run_exit_code"), 0);
    EXPECT_EQ(sample(e, "koorelease_last_success_timestamp_seconds"), sample(e, "koorelease_run_end_timestamp_seconds"));
    EXPECT_EQ(sample(e, "koorelease_ids_total{outcome=\"released\"}"), 50);
}

// Waits for the metrics file to be renamed into place, watching the directory with inotify;
// false when the deadline passes or the child has exited.
bool wait_for_rewrite(int inotify_fd, const std::string& name, child& c, std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd fd{inotify_fd, POLLIN, 0};
        if (::poll(&fd, 1, 100) > 0) {
            alignas(inotify_event) char buf[4096];
            const auto n = ::read(inotify_fd, buf, sizeof buf);
            for (ssize_t at = 0; at < n;) {
                const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
                if (ev->len && name == ev->name) return true;
                at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
            }
        } else if (c.wait(std::chrono::milliseconds(0))) {
            return false;
        }
    }
    return false;
}

TEST(MetricsFile, RewrittenDuringTheRun) {
    mock_server mock;
    temp_dir dir;
    const auto metrics = dir.file("metrics.prom");
    const int watch = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    ASSERT_GE(watch, 0);
    ASSERT_GE(::inotify_add_watch(watch, dir.path().c_str(), IN_MOVED_TO), 0);
    spawn_options o;
    // 200 ids at 50 a second: about 4 s, long enough for the first rewrite after the start.
    o.args = {"release", "--quiet", "--rate", "50", "--metrics-file", metrics, "--output", dir.file("out.jsonl")};
    o.args = o.args + client_args(mock, write_ids(dir, "i-", 200));
    o.env = {{"KOOPHONE_TOKEN", test_token}};
    o.stderr_file = dir.file("stderr.txt");
    child c(o);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool seen_mid_run = false;
    while (!seen_mid_run && wait_for_rewrite(watch, "metrics.prom", c, deadline)) {
        const auto e = parse_exposition(read_file(metrics));
        if (e.samples.contains("koorelease_run_end_timestamp_seconds")) break;  // the final one
        const double requests = sample(e, "koorelease_requests_total");
        seen_mid_run |= requests > 0 && requests < 200;
    }
    ::close(watch);
    EXPECT_TRUE(seen_mid_run) << "no rewrite with the run's counters so far";
    ASSERT_EQ(c.wait(std::chrono::seconds(60)), 0) << read_file(dir.file("stderr.txt"));
    const auto e = parse_exposition(read_file(metrics));
    EXPECT_EQ(sample(e, "koorelease_requests_total"), 200);
    expect_no_temporary_files(dir);
}

TEST(MetricsFile, UnwritablePathIsAUsageError) {
    mock_server mock;
    temp_dir dir;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "i-", 5)) +
                                        std::vector<std::string>{"--metrics-file", dir.file("no/such/dir/m.prom")});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.stderr_text.find("no/such/dir/m.prom"), std::string::npos) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("choose a writable --metrics-file"), std::string::npos) << r.stderr_text;
    EXPECT_EQ(mock.stats().requests, 0u);
}

// ---- --pushgateway ------------------------------------------------------------------------

TEST(Pushgateway, ReceivesTheSameMetricsAtTheEnd) {
    mock_server mock;
    fake_pushgateway gateway;
    temp_dir dir;
    const auto metrics = dir.file("metrics.prom");
    const auto r = run_release(dir, client_args(mock, write_mixed_ids(dir)) +
                                        std::vector<std::string>{"--metrics-file", metrics, "--pushgateway", gateway.url(),
                                                                 "--push-job", "nightly", "--push-instance", "box-1",
                                                                 "--push-label", "env=test", "--push-label", "path=/a/b"});
    ASSERT_EQ(r.exit_code, 1) << r.stderr_text;
    EXPECT_EQ(r.stderr_text.find("warning"), std::string::npos) << r.stderr_text;
    const auto pushed = gateway.requests();
    ASSERT_EQ(pushed.size(), 1u);
    EXPECT_EQ(pushed[0].method, "POST");
    EXPECT_EQ(pushed[0].path, "/metrics/job/nightly/instance/box-1/env/test/path@base64/L2EvYg==");
    EXPECT_EQ(pushed[0].content_type, "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(pushed[0].body, read_file(metrics));  // the same exposition as the file's final one
    EXPECT_EQ(pushed[0].body.find(test_token), std::string::npos);
    const auto e = parse_exposition(pushed[0].body);
    expect_matches_journal(e, facts_of(r.journal), 210);
    EXPECT_EQ(sample(e, "koorelease_run_exit_code"), 1);
}

TEST(Pushgateway, AFailedPushIsAWarningAndLeavesTheExitCode) {
    mock_server mock;
    fake_pushgateway refusing(500);
    temp_dir dir;
    const auto ids = write_ids(dir, "i-", 20);
    auto r = run_release(dir, client_args(mock, ids) + std::vector<std::string>{"--pushgateway", refusing.url()});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    EXPECT_EQ(refusing.requests().size(), 1u);
    EXPECT_NE(r.stderr_text.find("koorelease: warning: cannot push the metrics to http://127.0.0.1:"), std::string::npos)
        << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("HTTP 500: fake body (the run's exit code is not changed)"), std::string::npos)
        << r.stderr_text;

    // Nothing listening: a connection error, same exit code.
    std::string closed_url;
    {
        fake_pushgateway gone;
        closed_url = gone.url();
    }
    r = run_release(dir, client_args(mock, ids) + std::vector<std::string>{"--force", "--pushgateway", closed_url});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("warning: cannot push the metrics to " + closed_url + ": Connection refused"),
              std::string::npos)
        << r.stderr_text;
}

TEST(Pushgateway, HttpsUsesTheCaFile) {
    // The mock speaks TLS with the test CA but is no Pushgateway: a 404 proves the handshake
    // and host-name check passed with --ca-file.
    mock_server mock;
    temp_dir dir;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "i-", 5)) +
                                        std::vector<std::string>{"--pushgateway", mock.url()});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("cannot push the metrics to " + mock.url() + ": the Pushgateway answered HTTP 404"),
              std::string::npos)
        << r.stderr_text;
}

TEST(Pushgateway, BadLabelIsAUsageError) {
    mock_server mock;
    temp_dir dir;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "i-", 5)) +
                                        std::vector<std::string>{"--pushgateway", "http://127.0.0.1:9", "--push-label", "1env"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.stderr_text.find("--push-label '1env' is not name=value"), std::string::npos) << r.stderr_text;
    EXPECT_EQ(mock.stats().requests, 0u);
}

// ---- koorelease report ----------------------------------------------------------------------

TEST(Report, FailedIdsOfARealRunFeedBackToRelease) {
    mock_server mock;
    temp_dir dir;
    const auto r = run_release(dir, client_args(mock, write_mixed_ids(dir)));
    ASSERT_EQ(r.exit_code, 1) << r.stderr_text;
    const auto facts = facts_of(r.journal);

    const auto failed = run_command(dir, {"report", "--failed", dir.file("out.jsonl")});
    ASSERT_EQ(failed.exit_code, 0) << failed.err;
    std::set<std::string> listed;
    std::size_t at = 0;
    while (at < failed.out.size()) {
        const auto end = failed.out.find('\n', at);
        listed.insert(failed.out.substr(at, end - at));
        at = end + 1;
    }
    std::set<std::string> expected;
    for (int i = 0; i < 10; ++i) expected.insert("missing-" + std::to_string(i));
    EXPECT_EQ(listed, expected);
    EXPECT_EQ(std::set<std::string>(facts.failed.begin(), facts.failed.end()), expected);

    // The list is a valid --input: releasing it again fails the same ten ids.
    write_file(dir.file("failed.txt"), failed.out);
    const auto again = run_release(dir, client_args(mock, dir.file("failed.txt")) +
                                            std::vector<std::string>{"--output", dir.file("again.jsonl")});
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_EQ(again.journal.size(), 10u);
}

TEST(Report, JsonFieldsAgreeWithTheJournal) {
    mock_server mock;
    temp_dir dir;
    const auto r = run_release(dir, client_args(mock, write_mixed_ids(dir)));
    ASSERT_EQ(r.exit_code, 1) << r.stderr_text;
    const auto facts = facts_of(r.journal);
    const auto report = run_command(dir, {"report", "--format", "json", dir.file("out.jsonl")});
    ASSERT_EQ(report.exit_code, 0) << report.err;
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(report.out);
    EXPECT_EQ(std::uint64_t(doc["records"]), 210u);
    EXPECT_EQ(std::uint64_t(doc["distinct_ids"]), 210u);
    EXPECT_EQ(std::uint64_t(doc["ids_with_several_records"]), 0u);
    EXPECT_EQ(std::uint64_t(doc["outcomes"]["released"]), facts.outcomes.at("released"));
    EXPECT_EQ(std::uint64_t(doc["outcomes"]["failed"]), 10u);
    EXPECT_EQ(std::uint64_t(doc["error_codes"]["KOOPHONE.API.4001"]), 10u);
    EXPECT_EQ(std::uint64_t(doc["error_codes"]["0"]), 200u);
    EXPECT_EQ(std::uint64_t(doc["attempts"]["total"]), facts.attempts);
    EXPECT_EQ(std::uint64_t(doc["attempts"]["distribution"]["1"]), 210u);
    EXPECT_EQ(std::uint64_t(doc["latency_ms"]["count"]), 210u);
    const double p50 = doc["latency_ms"]["p50"], p99 = doc["latency_ms"]["p99"], max = doc["latency_ms"]["max"];
    EXPECT_GT(p50, 0);
    EXPECT_LE(p50, p99);
    EXPECT_LE(p99, max);
    EXPECT_GE(double(doc["duration_s"]), 0);
    EXPECT_EQ(std::uint64_t(doc["failed"]), 10u);
    EXPECT_EQ(std::uint64_t(doc["failures_by_reason"].get_object().size()), 1u);

    // Text is the default.
    const auto text = run_command(dir, {"report", dir.file("out.jsonl")});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("210 records, 210 distinct ids, 0 ids with more than one record\n"), std::string::npos)
        << text.out;
    EXPECT_NE(text.out.find("failed 10, released 200"), std::string::npos) << text.out;
}

TEST(Report, AResumedRunCountsEachIdOnceByItsLastRecord) {
    mock_server mock;
    temp_dir dir;
    // An aborted record from an earlier, interrupted run, then the resumed run.
    write_file(dir.file("out.jsonl"),
               "{\"instance_id\":\"i-3\",\"outcome\":\"aborted\",\"reason\":\"interrupted\",\"attempts\":1,"
               "\"request_ids\":[\"1b4e28ba-2fa1-4d2c-883f-0016d3cca427\"],\"finished_at\":\"2026-11-27T10:47:54.123Z\"}\n");
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "i-", 5)) + std::vector<std::string>{"--resume"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto report = run_command(dir, {"report", "--format", "json", dir.file("out.jsonl")});
    ASSERT_EQ(report.exit_code, 0) << report.err;
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(report.out);
    EXPECT_EQ(std::uint64_t(doc["records"]), 6u);
    EXPECT_EQ(std::uint64_t(doc["distinct_ids"]), 5u);
    EXPECT_EQ(std::uint64_t(doc["ids_with_several_records"]), 1u);
    EXPECT_EQ(std::uint64_t(doc["outcomes"]["released"]), 5u);
    EXPECT_EQ(doc["outcomes"]["aborted"].error(), simdjson::NO_SUCH_FIELD);
    EXPECT_EQ(std::uint64_t(doc["attempts"]["total"]), 6u);
}

TEST(Report, MalformedLineIsExitTwoWithItsNumber) {
    temp_dir dir;
    const std::string good =
        "{\"instance_id\":\"i-1\",\"outcome\":\"released\",\"attempts\":1,\"http_status\":200,\"error_code\":\"0\","
        "\"request_ids\":[\"1b4e28ba-2fa1-4d2c-883f-0016d3cca427\"],\"latency_ms\":1.500,\"finished_at\":\"2026-11-27T10:47:54.123Z\"}\n";
    write_file(dir.file("bad.jsonl"), good + "this is not json\n" + good);
    const auto bad = run_command(dir, {"report", dir.file("bad.jsonl")});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find(dir.file("bad.jsonl") + ":2: not a koorelease journal record (not JSON)"), std::string::npos)
        << bad.err;
    EXPECT_EQ(bad.out, "");

    // A torn last line (a killed run): a warning, the rest is reported.
    write_file(dir.file("torn.jsonl"), good + good + good.substr(0, 40));
    const auto torn = run_command(dir, {"report", dir.file("torn.jsonl")});
    EXPECT_EQ(torn.exit_code, 0) << torn.err;
    EXPECT_NE(torn.err.find("warning: " + dir.file("torn.jsonl") + ":3: the last line is incomplete"), std::string::npos)
        << torn.err;
    EXPECT_NE(torn.out.find("2 records, 1 distinct ids, 1 ids with more than one record"), std::string::npos) << torn.out;

    const auto missing = run_command(dir, {"report", dir.file("nope.jsonl")});
    EXPECT_EQ(missing.exit_code, 2);
    EXPECT_NE(missing.err.find("nope.jsonl"), std::string::npos) << missing.err;

    const auto format = run_command(dir, {"report", "--format", "yaml", dir.file("torn.jsonl")});
    EXPECT_EQ(format.exit_code, 2);
}

}  // namespace
}  // namespace koorelease::test
