#include "koorelease/errors.hpp"

#include <string>

namespace koorelease {

namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "koorelease"; }
    std::string message(int value) const override {
        switch (static_cast<run_error>(value)) {
            case run_error::token_rejected:
                return "the token was rejected by the API (APIG.0301: wrong token; APIG.0307: "
                       "expired or for another region): get a new project-scoped IAM token, put it "
                       "in KOOPHONE_TOKEN or --token-file (with --iam-*: check the IAM user, domain, "
                       "project and KOOPHONE_IAM_PASSWORD), and run the same command with --resume";
            case run_error::tls_verification_failed:
                return "TLS certificate verification failed: the server's certificate is not "
                       "trusted; pass the CA that signed it with --ca-file FILE (or check that "
                       "--endpoint names the right host)";
            case run_error::endpoint_unreachable:
                return "the endpoint is unreachable: no connection could be made; check "
                       "--endpoint, DNS, firewalls and proxies, then run the same command with --resume";
            case run_error::interrupted:
                return "interrupted by a signal: ids without a final record were not finished; "
                       "run the same command with --resume to finish them";
            case run_error::journal_failed:
                return "the journal could not be written: free space or fix permissions of "
                       "--output, then run the same command with --resume";
            case run_error::input_failed:
                return "the input could not be read to the end";
        }
        return "unknown error";
    }
};

}  // namespace

const std::error_category& run_category() {
    static const category instance;
    return instance;
}

std::string_view aborted_reason(run_error e) {
    switch (e) {
        case run_error::token_rejected: return "run stopped: token rejected";
        case run_error::tls_verification_failed: return "run stopped: TLS verification failed";
        case run_error::endpoint_unreachable: return "run stopped: endpoint unreachable";
        case run_error::interrupted: return "run stopped: interrupted";
        case run_error::journal_failed: return "run stopped: journal write failed";
        case run_error::input_failed: return "run stopped: input read failed";
    }
    return "run stopped";
}

int exit_code_for(run_error e) {
    switch (e) {
        case run_error::token_rejected:
        case run_error::tls_verification_failed:
        case run_error::endpoint_unreachable:
            return 3;
        case run_error::interrupted:
            return 4;
        case run_error::journal_failed:
        case run_error::input_failed:
            return 3;
    }
    return 3;
}

}  // namespace koorelease
