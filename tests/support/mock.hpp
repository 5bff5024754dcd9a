#pragma once
// `koorelease mock` as a test fixture: started on a free loopback port, its CA written to a
// temporary file, its /mock/stats read over HTTPS, stopped with SIGTERM at the end.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace koorelease::test {

inline constexpr const char* test_token = "test-token-Zq8vR3xW";  // a token the tests look for in outputs

struct mock_stats {
    std::uint64_t requests = 0;
    std::uint64_t released = 0;
    std::uint64_t released_more_than_once = 0;
    std::uint64_t request_ids_reused = 0;
    std::uint64_t missing_request_id = 0;
    std::uint64_t pipelined = 0;  // requests that arrived behind an unanswered one
    std::uint64_t dropped = 0;    // connections closed unanswered (faults, drop- ids)
    std::uint64_t iam_requests = 0;       // POST /v3/auth/tokens received
    std::uint64_t iam_tokens_issued = 0;
    std::uint64_t iam_tokens_used = 0;    // distinct issued tokens that release requests carried
    std::map<std::string, std::uint64_t> by_status;
    std::map<std::string, std::uint64_t> by_error_code;
    std::vector<std::uint64_t> per_second;
    std::vector<std::uint64_t> released_per_second;
};

class mock_server {
public:
    // `args`: fault flags. The mock requires test_token unless `token` says otherwise (empty:
    // KOOPHONE_TOKEN unset). `env`: more variables for the mock (KOOPHONE_IAM_PASSWORD).
    explicit mock_server(std::vector<std::string> args = {}, bool plain = false,
                         std::string token = test_token, std::map<std::string, std::string> env = {});
    ~mock_server();

    std::uint16_t port() const { return port_; }
    const std::string& ca_file() const { return ca_file_; }
    std::string url() const;  // https://localhost:PORT (or http://127.0.0.1:PORT)
    mock_stats stats() const;

private:
    temp_dir dir_;
    bool plain_;
    std::string ca_file_;
    std::unique_ptr<child> process_;
    std::uint16_t port_ = 0;
};

// Writes `count` ids "<prefix>0", "<prefix>1", ... to ids.txt in `dir`; returns its path.
std::string write_ids(const temp_dir& dir, const std::string& prefix, int count);

struct run_result {
    int exit_code = -1;
    std::string stderr_text;
    std::vector<std::string> journal;  // the lines of --output
};

// Runs `koorelease release` to completion (at most `deadline`), with the test token in
// KOOPHONE_TOKEN unless `env` says otherwise.
run_result run_release(const temp_dir& dir, std::vector<std::string> args,
                       std::map<std::string, std::string> env = {}, const std::string& stdin_file = {},
                       std::chrono::seconds deadline = std::chrono::seconds(120));

}  // namespace koorelease::test
