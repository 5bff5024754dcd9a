#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>

extern char** environ;

namespace koorelease::test {

namespace {

constexpr auto start_deadline = std::chrono::seconds(30);
constexpr auto exit_deadline = std::chrono::seconds(30);
constexpr const char* ready_line = "Ready to accept connections";

// A port the kernel just gave out and took back: free unless another process races for it.
std::uint16_t free_loopback_port() {
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) throw std::runtime_error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(s);
        throw std::runtime_error("cannot pick a free port");
    }
    ::close(s);
    return ntohs(a.sin_port);
}

}  // namespace

bool redis_server::available() {
    return ::access(redis_server_binary, X_OK) == 0;
}

redis_server::redis_server(redis_options options) : options_(std::move(options)) {
    // A free port can be taken between picking and binding: try a few.
    for (int attempt = 0;; ++attempt) {
        port_ = free_loopback_port();
        try {
            start();
            return;
        } catch (const std::exception&) {
            if (attempt == 4) throw;
        }
    }
}

redis_server::~redis_server() {
    stop();
}

redis::target redis_server::target() const {
    redis::target t;
    t.port = port_;
    t.password = options_.password;
    return t;
}

void redis_server::start() {
    std::vector<std::string> args = {redis_server_binary,
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--protected-mode",
                                     "yes",
                                     "--daemonize",
                                     "no",
                                     "--dir",
                                     dir_.path(),
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "yes",
                                     "--appendfsync",
                                     "always",
                                     "--logfile",
                                     ""};
    if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // Its log goes to stdout, a pipe read until the ready line; the pipe is closed after that
    // (redis-server ignores SIGPIPE, later log lines are dropped).
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    // fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: a test binary killed before
    // its destructors run (a ctest timeout, a crash) takes its redis-server with it. Only
    // async-signal-safe calls between fork and exec.
    const pid_t parent = ::getpid();
    const int dev_null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_ = ::fork();
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        ::dup2(dev_null, 0);
        ::dup2(out[1], 1);
        ::dup2(out[1], 2);
        ::execve(argv[0], argv.data(), environ);
        ::_exit(127);
    }
    const int fork_error = errno;
    ::close(dev_null);
    ::close(out[1]);
    if (pid_ < 0) {
        ::close(out[0]);
        pid_ = -1;
        throw std::runtime_error(std::string("cannot start ") + redis_server_binary + ": " +
                                 std::strerror(fork_error));
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));

    std::string log;
    const auto until = std::chrono::steady_clock::now() + start_deadline;
    bool ready = false;
    while (!ready) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char buf[4096];
        const auto n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;  // it exited
        log.append(buf, static_cast<std::size_t>(n));
        ready = log.find(ready_line) != std::string::npos;
    }
    ::close(out[0]);
    if (!ready) {
        terminate(SIGKILL);
        throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) +
                                 ":\n" + log);
    }
}

void redis_server::terminate(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    if (sig == SIGTERM) ::kill(pid_, SIGCONT);  // a stopped server cannot exit
    pollfd p{pidfd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(exit_deadline).count())) <= 0) {
        ::kill(pid_, SIGKILL);
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    ::close(pidfd_);
    pidfd_ = -1;
    pid_ = -1;
}

void redis_server::restart() {
    terminate(SIGTERM);
    start();
}

void redis_server::kill() {
    terminate(SIGKILL);
}

void redis_server::stop() {
    terminate(SIGTERM);
}

void redis_server::signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
}

redis::reply redis_server::command(const std::vector<std::string>& argv) const {
    const timeval timeout{10, 0};
    std::unique_ptr<redisContext, decltype(&redisFree)> c(
        redisConnectWithTimeout("127.0.0.1", port_, timeout), &redisFree);
    if (!c || c->err) {
        throw std::runtime_error("redis_server::command: cannot connect to port " +
                                 std::to_string(port_) + ": " + (c ? c->errstr : "out of memory"));
    }
    redisSetTimeout(c.get(), timeout);
    const auto run = [&](const std::vector<std::string>& a) {
        std::vector<const char*> args;
        std::vector<std::size_t> lengths;
        for (const auto& s : a) {
            args.push_back(s.data());
            lengths.push_back(s.size());
        }
        std::unique_ptr<redisReply, decltype(&freeReplyObject)> r(
            static_cast<redisReply*>(
                redisCommandArgv(c.get(), static_cast<int>(a.size()), args.data(), lengths.data())),
            &freeReplyObject);
        if (!r) throw std::runtime_error(std::string("redis_server::command: ") + c->errstr);
        return redis::to_reply(*r);
    };
    if (!options_.password.empty()) {
        const auto auth = run({"AUTH", options_.password});
        if (auth.is_error()) throw std::runtime_error("redis_server::command: AUTH: " + auth.text);
    }
    return run(argv);
}

}  // namespace koorelease::test
