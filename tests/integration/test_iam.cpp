// IAM tokens end to end: `koorelease token` against the mock's
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

}  // namespace
}  // namespace koorelease::test
