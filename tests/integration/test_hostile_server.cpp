// Servers that are not clean: answers too large, not HTTP, or never coming. Each must be an
// error for that attempt (retried, then the id fails), never a crash, a hang or a lost record.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <optional>
#include <thread>

#include "support/mock.hpp"

namespace koorelease::test {
namespace {

// A plain-HTTP server on 127.0.0.1 that reads each request and answers with whatever
// `answer` returns (nullopt: answer nothing and keep the connection open until the end).
// One connection at a time: the tests run the client with --concurrency 1.
class raw_server {
public:
    explicit raw_server(std::function<std::optional<std::string>()> answer) : answer_(std::move(answer)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(fd_, 16);
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~raw_server() {
        // The client has exited by now, so every connection reads end-of-file; stopping the
        // accept loop is enough for the thread to end (held_ is the thread's until it has).
        stopping_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
        for (int c : held_) ::close(c);
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    int requests() const { return requests_; }

private:
    void serve() {
        while (!stopping_) {
            const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) return;
            std::string in;
            char buf[65536];
            bool open = true;
            while (open && !stopping_) {
                const auto n = ::read(c, buf, sizeof buf);
                if (n <= 0) break;
                in.append(buf, static_cast<std::size_t>(n));
                // One whole request: headers, then a body of Content-Length bytes.
                const auto end = in.find("\r\n\r\n");
                if (end == std::string::npos) continue;
                const auto cl = in.find("Content-Length: ");
                const std::size_t body = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
                if (in.size() < end + 4 + body) continue;
                in.erase(0, end + 4 + body);
                ++requests_;
                const auto answer = answer_();
                if (!answer) {
                    held_.push_back(c);  // never answered; closed when the test ends
                    open = false;
                    continue;
                }
                std::size_t done = 0;
                while (done < answer->size()) {
                    const auto w = ::send(c, answer->data() + done, answer->size() - done, MSG_NOSIGNAL);
                    if (w <= 0) break;
                    done += static_cast<std::size_t>(w);
                }
            }
            if (open) ::close(c);
        }
    }

    std::function<std::optional<std::string>()> answer_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> requests_{0};
    std::vector<int> held_;
};

std::string ok_headers(std::size_t body_length, const std::string& extra = "") {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra +
           "Content-Length: " + std::to_string(body_length) + "\r\n\r\n";
}

struct hostile_case {
    const char* name;
    std::function<std::optional<std::string>()> answer;
    const char* expected_reason;
};

TEST(HostileServer, BadAnswersFailTheAttemptNotTheProcess) {
    const std::string ok_body = R"({"error_code":"0","error_msg":"OK"})";
    const std::vector<hostile_case> cases = {
        {"a 100 KB header", [&] { return ok_headers(ok_body.size(), "X-Big: " + std::string(100'000, 'a') + "\r\n") + ok_body; },
         "malformed or oversized HTTP answer"},
        {"10,000 headers", [&] {
             std::string many;
             for (int i = 0; i < 10'000; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
             return ok_headers(ok_body.size(), many) + ok_body;
         },
         "malformed or oversized HTTP answer"},
        {"a 10 MB body", [&] { return ok_headers(10'000'000) + std::string(10'000'000, '{'); },
         "malformed or oversized HTTP answer"},
        {"not HTTP at all", [] { return std::string("SSH-2.0-OpenSSH_9.2\r\n\x01\x02\x03 garbage\r\n\r\n"); },
         "malformed or oversized HTTP answer"},
        {"a 200 with an HTML body", [] {
             const std::string html = "<html><body>502 Bad Gateway</body></html>";
             return "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " + std::to_string(html.size()) +
                    "\r\n\r\n" + html;
         },
         "HTTP 200 without the expected JSON body"},
        {"no answer at all", [] { return std::optional<std::string>(); }, "no complete answer within --request-timeout"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        raw_server server(c.answer);
        temp_dir dir;
        write_file(dir.file("ids.txt"), "h-1\nh-2\n");
        const auto start = std::chrono::steady_clock::now();
        const auto r = run_release(dir, {"--endpoint", server.url(), "--input", dir.file("ids.txt"), "--concurrency", "1",
                                         "--max-attempts", "3", "--backoff-base", "1ms", "--backoff-cap", "5ms",
                                         "--request-timeout", "300ms"},
                                   {}, {}, std::chrono::seconds(30));
        EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
        ASSERT_EQ(r.journal.size(), 2u) << r.stderr_text;
        for (const auto& line : r.journal) {
            EXPECT_NE(line.find("\"outcome\":\"failed\""), std::string::npos) << line;
            EXPECT_NE(line.find(std::string("retries exhausted: ") + c.expected_reason), std::string::npos) << line;
            EXPECT_NE(line.find("\"attempts\":3"), std::string::npos) << line;
        }
        EXPECT_EQ(server.requests(), 6);
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
    }
}

}  // namespace
}  // namespace koorelease::test
