// IAM tokens end to end: `koorelease token` and `release --iam-*` against the mock's
// POST /v3/auth/tokens, over TLS on loopback.
#include <gtest/gtest.h>
#include <dirent.h>
#include <simdjson.h>
#include <sys/stat.h>

#include <regex>
#include <set>

#include "support/mock.hpp"

namespace koorelease::test {
namespace {

constexpr const char* iam_password = "iam-Pw-7Kq2Lx9";  // looked for in every output

// A mock that requires the IAM password and accepts only the tokens it issued.
std::unique_ptr<mock_server> iam_mock(std::vector<std::string> args = {}) {
    return std::make_unique<mock_server>(std::move(args), false, "",
                                         std::map<std::string, std::string>{{"KOOPHONE_IAM_PASSWORD", iam_password}});
}

struct command_result {
    int exit_code = -1;
    std::string out, err;
};

command_result run_token(const temp_dir& dir, const mock_server& mock, const std::string& output,
                         std::optional<std::string> password) {
    spawn_options o;
    o.args = {"token", "--iam-endpoint", mock.url(), "--user", "alice", "--domain", "acme", "--project",
              "cn-north-4", "--output", output, "--ca-file", mock.ca_file()};
    if (password) {
        o.env["KOOPHONE_IAM_PASSWORD"] = *password;
    } else {
        o.unset_env.push_back("KOOPHONE_IAM_PASSWORD");
    }
    o.stdout_file = dir.file("token.out");
    o.stderr_file = dir.file("token.err");
    child c(o);
    command_result r;
    r.exit_code = c.wait(std::chrono::seconds(60)).value_or(-1);
    r.out = read_file(dir.file("token.out"));
    r.err = read_file(dir.file("token.err"));
    return r;
}

std::vector<std::string> iam_args(const mock_server& mock) {
    return {"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--iam-endpoint", mock.url(), "--iam-user", "alice",
            "--iam-domain", "acme", "--iam-project", "cn-north-4"};
}

std::map<std::string, std::string> iam_env(const std::string& password = iam_password) {
    return {{"KOOPHONE_TOKEN", "<unset>"}, {"KOOPHONE_IAM_PASSWORD", password}};
}

std::vector<std::string> files_in(const std::string& path) {
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return names;
    while (dirent* e = ::readdir(d)) {
        if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.emplace_back(e->d_name);
    }
    ::closedir(d);
    return names;
}

TEST(IamToken, TokenCommandWritesAPrivateFileTheMockAccepts) {
    const auto mock = iam_mock();
    temp_dir dir;
    temp_dir out_dir;  // only the token file may end up here
    const std::string token_file = out_dir.file("token");
    write_file(token_file, "an old token\n");
    ::chmod(token_file.c_str(), 0644);

    const command_result r = run_token(dir, *mock, token_file, iam_password);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    struct stat st {};
    ASSERT_EQ(::stat(token_file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(files_in(out_dir.path()), std::vector<std::string>{"token"});  // no temporary left behind
    const std::string token = read_lines(token_file).at(0);
    EXPECT_TRUE(token.starts_with("MII")) << "not an issued token";
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(expires at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 23h59m\))"))) << r.out;
    for (const std::string& text : {r.out, r.err}) {
        EXPECT_EQ(text.find(token), std::string::npos);
        EXPECT_EQ(text.find(iam_password), std::string::npos);
    }

    // The mock takes it (and takes no made-up one: it accepts only issued tokens).
    const auto ok = run_release(dir, {"--endpoint", mock->url(), "--ca-file", mock->ca_file(), "--input",
                                      write_ids(dir, "t-", 50), "--token-file", token_file},
                                {{"KOOPHONE_TOKEN", "<unset>"}});
    EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
    EXPECT_EQ(ok.journal.size(), 50u);
    const auto stats = mock->stats();
    EXPECT_EQ(stats.released, 50u);
    EXPECT_EQ(stats.iam_tokens_issued, 1u);
    EXPECT_EQ(stats.iam_tokens_used, 1u);
    write_file(token_file, "MIImadeup\n");
    const auto refused = run_release(dir, {"--endpoint", mock->url(), "--ca-file", mock->ca_file(), "--input",
                                           write_ids(dir, "t-", 5), "--token-file", token_file, "--force"},
                                     {{"KOOPHONE_TOKEN", "<unset>"}});
    EXPECT_EQ(refused.exit_code, 3);
}

TEST(IamToken, TokenCommandErrors) {
    const auto mock = iam_mock();
    temp_dir dir;
    const std::string token_file = dir.file("token");

    const command_result wrong = run_token(dir, *mock, token_file, "not-the-password-x1");
    EXPECT_EQ(wrong.exit_code, 3);
    EXPECT_NE(wrong.err.find("IAM refused the credentials (HTTP 401"), std::string::npos) << wrong.err;
    EXPECT_EQ(wrong.err.find("not-the-password-x1"), std::string::npos);
    EXPECT_EQ(::access(token_file.c_str(), F_OK), -1) << "no file for a refused password";

    // stdin is not a terminal (/dev/null) and the variable is unset: say what to set.
    const command_result none = run_token(dir, *mock, token_file, std::nullopt);
    EXPECT_EQ(none.exit_code, 2);
    EXPECT_NE(none.err.find("set KOOPHONE_IAM_PASSWORD"), std::string::npos) << none.err;

    const command_result unwritable = run_token(dir, *mock, dir.file("no/such/dir/token"), iam_password);
    EXPECT_EQ(unwritable.exit_code, 2);
    EXPECT_NE(unwritable.err.find("--output"), std::string::npos) << unwritable.err;
    EXPECT_EQ(mock->stats().iam_requests, 1u) << "only the wrong password reached IAM";

    spawn_options o;
    o.args = {"token", "--iam-endpoint", "https://127.0.0.1:1", "--user", "alice", "--domain", "acme", "--project",
              "p", "--output", token_file};
    o.env["KOOPHONE_IAM_PASSWORD"] = iam_password;
    o.stderr_file = dir.file("unreachable.err");
    child c(o);
    EXPECT_EQ(c.wait(std::chrono::seconds(60)), 3);
    EXPECT_NE(read_file(dir.file("unreachable.err")).find("cannot reach IAM"), std::string::npos);
}

// A run long enough (4000 ids at 1000/s) for tokens that live 3 s to be refreshed ahead of
// expiry (at half their lifetime), and with the tokens issued before the 2500th request
// revoked (APIG.0307) so that it must also fetch one on expiry, without losing an id.
// Each refresh path in its own run: a time-based refresh and a count-based revocation in one
// run could meet (a refresh just as the mock revokes) and leave no APIG.0307 to react to.
struct refresh_run {
    run_result result;
    mock_stats stats;
    int ahead = -1, on_expired = -1;
    std::uint64_t sent_again = 0;
};

refresh_run release_with_iam(const std::vector<std::string>& mock_args, int ids) {
    const auto mock = iam_mock(mock_args);
    temp_dir dir;
    auto args = iam_args(*mock);
    args.insert(args.end(), {"--input", write_ids(dir, "r-", ids), "--rate", "1000", "--max-attempts", "1"});
    refresh_run out;
    out.result = run_release(dir, args, iam_env());
    simdjson::dom::parser parser;
    for (const auto& line : out.result.journal) {
        simdjson::dom::element doc = parser.parse(line);
        EXPECT_EQ(std::string_view(doc["outcome"]), "released") << line;
        out.sent_again += std::uint64_t(doc["attempts"]) - 1;  // APIG.0307 attempts (no other fault here)
    }
    out.stats = mock->stats();
    std::smatch m;
    if (std::regex_search(out.result.stderr_text, m,
                          std::regex(R"(new IAM tokens: (\d+) ahead of expiry, (\d+) on APIG.0307)"))) {
        out.ahead = std::stoi(m[1]);
        out.on_expired = std::stoi(m[2]);
    }
    EXPECT_EQ(out.result.stderr_text.find(iam_password), std::string::npos);
    EXPECT_EQ(out.result.stderr_text.find("MIIMock"), std::string::npos);
    return out;
}

TEST(IamToken, ReleaseRefreshesAheadOfExpiry) {
    // Tokens live 3 s; 4000 ids at 1000/s take at least 4 s: the first token is replaced
    // before it expires (at half its life at the latest), and no request is ever refused.
    const auto r = release_with_iam({"--iam-token-lifetime", "3s"}, 4000);
    ASSERT_EQ(r.result.exit_code, 0) << r.result.stderr_text;
    ASSERT_EQ(r.result.journal.size(), 4000u);
    EXPECT_EQ(r.stats.released, 4000u);
    EXPECT_EQ(r.stats.by_error_code.count("APIG.0307"), 0u);
    EXPECT_EQ(r.sent_again, 0u);
    EXPECT_GE(r.stats.iam_tokens_used, 2u);
    EXPECT_GE(r.ahead, 1) << r.result.stderr_text;
    EXPECT_EQ(r.on_expired, 0) << r.result.stderr_text;
    EXPECT_EQ(r.stats.iam_tokens_issued, 1u + static_cast<unsigned>(r.ahead));
}

TEST(IamToken, ReleaseRefreshesOnExpiryWithoutCountingTheAttempt) {
    // Tokens live a day, but the mock revokes every token it has issued at its 1500th request:
    // the run must fetch a new one on APIG.0307 and send the refused ids again at no attempt.
    const auto r = release_with_iam({"--token-expire-after", "1500"}, 3000);
    ASSERT_EQ(r.result.exit_code, 0) << r.result.stderr_text;
    ASSERT_EQ(r.result.journal.size(), 3000u);
    EXPECT_EQ(r.stats.released, 3000u);
    EXPECT_EQ(r.stats.released_more_than_once, 0u);
    auto codes = r.stats.by_error_code;
    EXPECT_GE(codes["APIG.0307"], 1u);
    EXPECT_EQ(r.sent_again, codes["APIG.0307"]);
    EXPECT_EQ(r.stats.iam_tokens_used, 2u);
    EXPECT_EQ(r.stats.by_error_code.count("APIG.0301"), 0u);
    EXPECT_EQ(r.ahead, 0) << r.result.stderr_text;
    EXPECT_EQ(r.on_expired, 1) << r.result.stderr_text;
    EXPECT_EQ(r.stats.iam_tokens_issued, 2u);
}

TEST(IamToken, WrongPasswordStopsBeforeAnyReleaseRequest) {
    const auto mock = iam_mock();
    temp_dir dir;
    auto args = iam_args(*mock);
    args.insert(args.end(), {"--input", write_ids(dir, "w-", 100)});
    const auto r = run_release(dir, args, iam_env("wrong-Pw-3Zr8"));
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.stderr_text.find("IAM refused the credentials (HTTP 401"), std::string::npos) << r.stderr_text;
    EXPECT_EQ(r.stderr_text.find("wrong-Pw-3Zr8"), std::string::npos);
    EXPECT_TRUE(r.journal.empty());
    const auto stats = mock->stats();
    EXPECT_EQ(stats.iam_requests, 1u);
    EXPECT_EQ(stats.requests, 0u);
}

TEST(IamToken, ExpiredAgainRightAfterARefreshStops) {
    // Every token is expired when issued: one fetch on APIG.0307, then stop.
    const auto mock = iam_mock({"--iam-token-lifetime", "0s"});
    temp_dir dir;
    auto args = iam_args(*mock);
    args.insert(args.end(), {"--input", write_ids(dir, "e-", 200), "--concurrency", "1"});
    const auto r = run_release(dir, args, iam_env());
    EXPECT_EQ(r.exit_code, 3) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("APIG.0307 for the token just fetched"), std::string::npos) << r.stderr_text;
    auto stats = mock->stats();
    EXPECT_EQ(stats.iam_tokens_issued, 2u);
    EXPECT_EQ(stats.by_status.count("200"), 0u);
}

TEST(IamToken, ReleaseUsageErrors) {
    const auto mock = iam_mock();
    temp_dir dir;
    const auto ids = write_ids(dir, "u-", 3);
    auto with = [&](std::vector<std::string> extra, std::map<std::string, std::string> env) {
        auto args = iam_args(*mock);
        args.insert(args.end(), {"--input", ids, "--force"});
        args.insert(args.end(), extra.begin(), extra.end());
        return run_release(dir, args, env);
    };
    auto both = with({}, {{"KOOPHONE_TOKEN", test_token}, {"KOOPHONE_IAM_PASSWORD", iam_password}});
    EXPECT_EQ(both.exit_code, 2);
    EXPECT_NE(both.stderr_text.find("drop KOOPHONE_TOKEN"), std::string::npos) << both.stderr_text;
    write_file(dir.file("tok"), "x\n");
    EXPECT_EQ(with({"--token-file", dir.file("tok")}, iam_env()).exit_code, 2);
    auto no_password = with({}, {{"KOOPHONE_TOKEN", "<unset>"}, {"KOOPHONE_IAM_PASSWORD", ""}});
    EXPECT_EQ(no_password.exit_code, 2);
    EXPECT_NE(no_password.stderr_text.find("KOOPHONE_IAM_PASSWORD"), std::string::npos);
    EXPECT_EQ(mock->stats().iam_requests, 0u);
}

}  // namespace
}  // namespace koorelease::test
