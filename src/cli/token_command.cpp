// `koorelease token`: obtain a project-scoped IAM token and write it to a file only its owner
// can read, so that it never has to be pasted (or shown) anywhere.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <variant>

#include "cli/commands.hpp"
#include "koorelease/iam.hpp"

namespace koorelease::cli {

namespace {

struct token_options {
    std::string iam_endpoint;
    std::string user;
    std::string domain;
    std::string project;
    std::string output;
    std::string ca_file;
};

[[noreturn]] void usage_error(const std::string& message) { throw CLI::ValidationError(message); }

// The password: KOOPHONE_IAM_PASSWORD, or typed at the terminal without echo.
std::string read_password(const token_options& o) {
    if (const char* env = std::getenv("KOOPHONE_IAM_PASSWORD"); env != nullptr && *env != '\0') return env;
    if (::isatty(STDIN_FILENO) != 1) {
        usage_error("no IAM password: set KOOPHONE_IAM_PASSWORD (stdin is not a terminal to type it on)");
    }
    termios saved{};
    if (::tcgetattr(STDIN_FILENO, &saved) != 0) usage_error(std::string("cannot read the terminal: ") + std::strerror(errno));
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    std::fprintf(stderr, "IAM password for %s (domain %s): ", o.user.c_str(), o.domain.c_str());
    std::fflush(stderr);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);  // TCSANOW: keep what was typed ahead
    std::string password;
    std::getline(std::cin, password);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (password.empty()) usage_error("no IAM password was typed (or set KOOPHONE_IAM_PASSWORD)");
    return password;
}

// A file created with mode 0600 under a temporary name next to the output, renamed over it
// once written: the token is never readable by others, not even for a moment, and a reader
// of the output never sees half a token.
class private_file {
public:
    explicit private_file(const std::string& path) : path_(path) {
        std::random_device entropy;
        for (int tries = 0; tries < 16 && fd_ < 0; ++tries) {
            temp_ = path + ".tmp." + std::to_string(entropy() % 1000000000u);
            fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd_ < 0 && errno != EEXIST) break;
        }
        if (fd_ < 0) {
            usage_error("cannot write --output '" + path + "': " + std::strerror(errno) +
                        " (choose a path in a directory you can write)");
        }
        ::fchmod(fd_, 0600);  // whatever the umask
    }
    ~private_file() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) ::unlink(temp_.c_str());
    }
    private_file(const private_file&) = delete;
    private_file& operator=(const private_file&) = delete;

    // Writes the content and renames it into place; an error message, or empty.
    std::string commit(const std::string& content) {
        std::size_t done = 0;
        while (done < content.size()) {
            const ssize_t n = ::write(fd_, content.data() + done, content.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return std::string("write failed: ") + std::strerror(errno);
            done += static_cast<std::size_t>(n);
        }
        if (::fsync(fd_) != 0) return std::string("fsync failed: ") + std::strerror(errno);
        ::close(fd_);
        fd_ = -1;
        if (::rename(temp_.c_str(), path_.c_str()) != 0) return std::string("rename failed: ") + std::strerror(errno);
        committed_ = true;
        return {};
    }

private:
    std::string path_;
    std::string temp_;
    int fd_ = -1;
    bool committed_ = false;
};

std::string in_words(std::chrono::seconds left) {
    if (left.count() <= 0) return "already expired";
    const auto h = std::chrono::duration_cast<std::chrono::hours>(left);
    const auto m = std::chrono::duration_cast<std::chrono::minutes>(left - h);
    const auto s = left - h - m;
    char text[64];
    if (h.count() > 0) {
        std::snprintf(text, sizeof text, "in %lldh%02lldm", static_cast<long long>(h.count()), static_cast<long long>(m.count()));
    } else {
        std::snprintf(text, sizeof text, "in %lldm%02llds", static_cast<long long>(m.count()), static_cast<long long>(s.count()));
    }
    return text;
}

int run(const token_options& o) {
    iam_settings s;
    auto ep = parse_endpoint(o.iam_endpoint);
    if (auto* error = std::get_if<std::string>(&ep)) usage_error("--iam-endpoint: " + *error);
    s.target = std::get<endpoint>(ep);
    s.ca_file = o.ca_file;
    if (!o.ca_file.empty() && ::access(o.ca_file.c_str(), R_OK) != 0) {
        usage_error("cannot read --ca-file '" + o.ca_file + "': " + std::strerror(errno));
    }
    s.credentials.user = o.user;
    s.credentials.domain = o.domain;
    s.credentials.project = o.project;
    s.credentials.password = "-";  // checked below, once read
    if (auto problem = check_iam_settings(s); !problem.empty()) usage_error(problem);
    private_file out(o.output);  // before asking for the password: an unwritable path fails first
    s.credentials.password = read_password(o);
    if (auto problem = check_iam_settings(s); !problem.empty()) usage_error(problem);

    const iam_result result = fetch_iam_token(s);
    if (const auto* error = std::get_if<iam_error>(&result)) {
        std::fprintf(stderr, "koorelease: %s\n", error->message.c_str());
        return 3;
    }
    const auto& token = std::get<iam_token>(result);
    if (auto problem = out.commit(token.token + "\n"); !problem.empty()) {
        std::fprintf(stderr, "koorelease: cannot write --output '%s': %s\n", o.output.c_str(), problem.c_str());
        return 3;
    }
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(token.expires_at - std::chrono::system_clock::now());
    std::printf("token for %s (domain %s, project %s) written to %s (mode 0600); it expires at %s (%s)\n",
                o.user.c_str(), o.domain.c_str(), o.project.c_str(), o.output.c_str(),
                format_utc(token.expires_at).c_str(), in_words(left).c_str());
    return 0;
}

}  // namespace

void add_token_command(CLI::App& root, command_action& action) {
    auto opts = std::make_shared<token_options>();
    CLI::App* cmd = root.add_subcommand(
        "token",
        "Obtain a project-scoped IAM token (POST /v3/auth/tokens, password identity) and write it to "
        "--output, created with mode 0600; print its expiry (never the token). The password is read "
        "from KOOPHONE_IAM_PASSWORD, or typed at the terminal without echo. Use the file with "
        "`release --token-file FILE`.");
    cmd->add_option("--iam-endpoint", opts->iam_endpoint, "IAM base URL, e.g. https://iam.myhuaweicloud.com")->required();
    cmd->add_option("--user", opts->user, "IAM user name")->required();
    cmd->add_option("--domain", opts->domain, "Account (domain) name the user belongs to")->required();
    cmd->add_option("--project", opts->project, "Project name (e.g. cn-north-4) or id (32 hex digits) to scope the token to")
        ->required();
    cmd->add_option("--output", opts->output, "File to write the token to (mode 0600, replaced atomically)")->required();
    cmd->add_option("--ca-file", opts->ca_file, "PEM trust anchors added to the system store");
    cmd->callback([&action, opts] { action = [opts] { return run(*opts); }; });
}

}  // namespace koorelease::cli
