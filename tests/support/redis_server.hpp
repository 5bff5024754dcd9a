#pragma once
// A real redis-server as a test fixture: started on a free loopback port in a temporary
// directory (append-only file fsynced on every write, so data survives restart()), ready once
// its log says so (read from its stdout with a deadline, no sleeping), stopped at the end.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "redis/connection.hpp"
#include "support/process.hpp"

namespace koorelease::test {

inline constexpr const char* redis_server_binary = "/usr/bin/redis-server";

struct redis_options {
    std::string password;                 // --requirepass (empty: none)
    std::vector<std::string> extra_args;  // more redis-server options, e.g. {"--databases", "4"}
};

class redis_server {
  public:
    // False when redis-server is not installed: tests then GTEST_SKIP() with skip_reason().
    static bool available();
    static const char* skip_reason() {
        return "needs /usr/bin/redis-server (apt-get install redis-server)";
    }

    // Throws std::runtime_error, with the server's output, when it does not start.
    explicit redis_server(redis_options options = {});
    ~redis_server();  // stop()
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    std::uint16_t port() const { return port_; }
    std::string url_base() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    redis::target target() const;  // 127.0.0.1, the port and the password

    void restart();        // SIGTERM, wait for the exit, start again on the same port and dir
    void kill();           // SIGKILL and wait for the exit (restart() starts it again)
    void stop();           // SIGTERM and wait for the exit; idempotent
    void signal(int sig);  // e.g. SIGSTOP / SIGCONT, to make it unresponsive
    bool running() const { return pid_ > 0; }

    // One command over a fresh blocking connection (AUTH first when there is a password).
    // Throws std::runtime_error when it cannot connect or the connection fails.
    redis::reply command(const std::vector<std::string>& argv) const;

  private:
    void start();             // throws when not ready within the deadline
    void terminate(int sig);  // signal and wait for the exit

    redis_options options_;
    temp_dir dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
    int pidfd_ = -1;
};

}  // namespace koorelease::test
