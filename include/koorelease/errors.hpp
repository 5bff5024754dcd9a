#pragma once
// Why a run stopped before every id was final. Each message says what to do about it.
#include <string_view>
#include <system_error>

namespace koorelease {

enum class run_error {
    token_rejected = 1,       // 401 / APIG.0301 / APIG.0307
    tls_verification_failed,  // the server's certificate is not trusted
    endpoint_unreachable,     // no connection could be made
    interrupted,              // SIGINT / SIGTERM
    journal_failed,           // the journal could not be written
    input_failed,             // the input could not be read
};

const std::error_category& run_category();

inline std::error_code make_error_code(run_error e) { return {static_cast<int>(e), run_category()}; }

// The reason an "aborted" journal record gives, e.g. "run stopped: token rejected".
std::string_view aborted_reason(run_error e);

// The process exit code for a run that stopped with this error (see the README).
int exit_code_for(run_error e);

}  // namespace koorelease

template <>
struct std::is_error_code_enum<koorelease::run_error> : std::true_type {};
