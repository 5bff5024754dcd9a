// The --config file and the precedence of the sources: command line, environment, file,
// defaults. Pure functions: text in, values or a one-line error out.
#include <gtest/gtest.h>

#include <map>

#include "cli/config_file.hpp"

namespace koorelease::cli {
namespace {

const std::vector<config_key> keys = {
    {"endpoint", value_kind::text},        {"token-file", value_kind::text},
    {"ca-file", value_kind::text},         {"concurrency", value_kind::integer},
    {"rate", value_kind::number},          {"max-attempts", value_kind::integer},
    {"connect-timeout", value_kind::text}, {"insecure", value_kind::flag},
    {"log-level", value_kind::text},       {"push-label", value_kind::texts},
};

config_result parse(std::string_view text) {
    return parse_config(text, "k.toml", keys);
}

TEST(ConfigFile, ReadsEveryKindAsTheOptionParsersText) {
    const auto r = parse(
        "# a comment\n"
        "endpoint = \"https://example.test\"\n"
        "concurrency = 8\n"
        "rate = 200.5\n"
        "max-attempts = 3\n"
        "connect-timeout = \"2s\"\n"
        "insecure = false\n");
    ASSERT_EQ(r.error, "");
    ASSERT_EQ(r.values.size(), 6u);
    EXPECT_EQ(r.values.at("endpoint").text, "https://example.test");
    EXPECT_EQ(r.values.at("endpoint").origin, "k.toml:2");
    EXPECT_EQ(r.values.at("concurrency").text, "8");
    EXPECT_EQ(r.values.at("concurrency").origin, "k.toml:3");
    EXPECT_EQ(r.values.at("rate").text, "200.5");
    EXPECT_EQ(r.values.at("max-attempts").text, "3");
    EXPECT_EQ(r.values.at("connect-timeout").text, "2s");
    EXPECT_EQ(r.values.at("insecure").text, "false");
}

TEST(ConfigFile, AnIntegerIsANumberToo) {
    const auto r = parse("rate = 100\n");
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.values.at("rate").text, "100");
}

TEST(ConfigFile, ARepeatableOptionTakesAnArrayOrOneString) {
    auto r = parse("push-label = [\"team=sre\", \"env=prod\"]\n");
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.values.at("push-label").list, (std::vector<std::string>{"team=sre", "env=prod"}));
    r = parse("push-label = \"team=sre\"\n");
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.values.at("push-label").list, (std::vector<std::string>{"team=sre"}));
    r = parse("push-label = [\"a=b\", 3]\n");
    EXPECT_NE(r.error.find("'push-label' must be an array of strings"), std::string::npos)
        << r.error;
}

TEST(ConfigFile, EmptyFileSetsNothing) {
    const auto r = parse("# nothing\n\n");
    EXPECT_EQ(r.error, "");
    EXPECT_TRUE(r.values.empty());
}

TEST(ConfigFile, UnknownKeyIsNamedWithItsLine) {
    const auto r = parse("endpoint = \"https://x\"\n\nretries = 3\n");
    EXPECT_NE(r.error.find("k.toml:3"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("unknown key 'retries'"), std::string::npos) << r.error;
}

TEST(ConfigFile, ATypoGetsTheNearestKeySuggested) {
    auto r = parse("concurency = 4\n");
    EXPECT_NE(r.error.find("k.toml:1: unknown key 'concurency': did you mean 'concurrency'?"),
              std::string::npos)
        << r.error;
    r = parse("max-atempts = 4\n");
    EXPECT_NE(r.error.find("did you mean 'max-attempts'?"), std::string::npos) << r.error;
    r = parse("frobnicate = 4\n");
    EXPECT_EQ(r.error.find("did you mean"), std::string::npos) << r.error;
}

TEST(ConfigFile, SnakeCaseKeyGetsTheKebabCaseSuggestion) {
    const auto r = parse("max_attempts = 3\n");
    EXPECT_NE(r.error.find("k.toml:1"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("did you mean 'max-attempts'"), std::string::npos) << r.error;
}

TEST(ConfigFile, WrongTypesAreNamedWithTheirLineAndWhatIsWanted) {
    struct case_ {
        const char* text;
        const char* line;
        const char* key;
        const char* wanted;
    };
    const case_ cases[] = {
        {"concurrency = \"8\"\n", "k.toml:1", "'concurrency'", "whole number"},
        {"\nconcurrency = -1\n", "k.toml:2", "'concurrency'", "whole number"},
        {"concurrency = 1.5\n", "k.toml:1", "'concurrency'", "whole number"},
        {"rate = \"fast\"\n", "k.toml:1", "'rate'", "a number"},
        {"endpoint = 443\n", "k.toml:1", "'endpoint'", "a string"},
        {"connect-timeout = 5\n", "k.toml:1", "'connect-timeout'", "a string"},
        {"insecure = \"yes\"\n", "k.toml:1", "'insecure'", "true or false"},
        {"insecure = 1\n", "k.toml:1", "'insecure'", "true or false"},
        {"endpoint = [\"a\"]\n", "k.toml:1", "'endpoint'", "a string"},
    };
    for (const auto& c : cases) {
        const auto r = parse(c.text);
        EXPECT_NE(r.error.find(c.line), std::string::npos) << c.text << " -> " << r.error;
        EXPECT_NE(r.error.find(c.key), std::string::npos) << c.text << " -> " << r.error;
        EXPECT_NE(r.error.find(c.wanted), std::string::npos) << c.text << " -> " << r.error;
        EXPECT_TRUE(r.values.empty());
    }
}

TEST(ConfigFile, TheTokenIsRefusedAndNotQuoted) {
    const auto r = parse("endpoint = \"https://x\"\ntoken = \"s3cr3t-token\"\n");
    EXPECT_NE(r.error.find("k.toml:2"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("token-file"), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find("s3cr3t-token"), std::string::npos) << r.error;
}

TEST(ConfigFile, WrongTypeMessagesDoNotQuoteValues) {
    const auto r = parse("concurrency = \"s3cr3t-value\"\n");
    EXPECT_FALSE(r.error.empty());
    EXPECT_EQ(r.error.find("s3cr3t-value"), std::string::npos) << r.error;
}

TEST(ConfigFile, SectionsAreRefused) {
    const auto r = parse("[release]\nrate = 5\n");
    EXPECT_NE(r.error.find("k.toml:1"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("no sections"), std::string::npos) << r.error;
}

TEST(ConfigFile, SyntaxErrorsGiveTheLine) {
    const auto r = parse("rate = 5\nconcurrency = = 3\n");
    EXPECT_NE(r.error.find("k.toml:2"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("not valid TOML"), std::string::npos) << r.error;
}

TEST(ConfigFile, ARepeatedKeyIsAnError) {
    const auto r = parse("rate = 5\nrate = 6\n");
    EXPECT_NE(r.error.find("k.toml:2"), std::string::npos) << r.error;
}

TEST(ConfigFile, AMissingFileSaysSo) {
    const auto r = read_config_file("/nonexistent/koorelease.toml", keys);
    EXPECT_NE(r.error.find("cannot read --config '/nonexistent/koorelease.toml'"),
              std::string::npos)
        << r.error;
}

TEST(ConfigEnvironment, ReadsTheDocumentedVariablesAndSkipsEmptyOnes) {
    const std::map<std::string, std::string> env = {
        {"KOOPHONE_ENDPOINT", "https://env.test"},
        {"KOOPHONE_RATE", "50"},
        {"KOOPHONE_CONCURRENCY", ""},
        {"KOOPHONE_CA_FILE", "/ca.pem"},
        {"KOOPHONE_TOKEN", "tok"},
        {"KOOPHONE_TOKEN_FILE", "/t"},
        {"KOOPHONE_LOG_LEVEL", "debug"},
        {"KOOPHONE_LOG_FORMAT", "json"},
        {"UNRELATED", "x"},
    };
    const auto values = values_from_environment([&](const char* name) -> const char* {
        const auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
    });
    EXPECT_EQ(values.size(), 6u);  // seven variables, one empty
    EXPECT_EQ(values.at("endpoint").text, "https://env.test");
    EXPECT_EQ(values.at("endpoint").origin, "KOOPHONE_ENDPOINT");
    EXPECT_EQ(values.at("rate").text, "50");
    EXPECT_EQ(values.at("ca-file").text, "/ca.pem");
    EXPECT_EQ(values.at("token-file").text, "/t");
    EXPECT_EQ(values.at("log-level").text, "debug");
    EXPECT_EQ(values.at("log-format").text, "json");
    EXPECT_FALSE(values.contains("concurrency"));  // empty: unset
    EXPECT_FALSE(values.contains("token"));        // the token is not an option
}

config_values vals(std::initializer_list<std::pair<const char*, const char*>> kv,
                   const char* origin) {
    config_values out;
    for (const auto& [k, v] : kv) out[k] = config_value{v, {}, origin};
    return out;
}

TEST(ConfigMerge, CommandLineThenEnvironmentThenFile) {
    const auto file =
        vals({{"endpoint", "file"}, {"rate", "1"}, {"concurrency", "2"}, {"ca-file", "f.pem"}},
             "k.toml:1");
    const auto env = vals({{"endpoint", "env"}, {"rate", "10"}}, "env");
    const auto merged = merge_config({"rate"}, env, file, false);
    // rate: on the command line, so nothing is applied over it.
    EXPECT_FALSE(merged.contains("rate"));
    EXPECT_EQ(merged.at("endpoint").text, "env");
    EXPECT_EQ(merged.at("endpoint").origin, "env");
    EXPECT_EQ(merged.at("concurrency").text, "2");
    EXPECT_EQ(merged.at("ca-file").origin, "k.toml:1");
    // What no source sets keeps its default: it is not in the merge.
    EXPECT_FALSE(merged.contains("max-attempts"));
}

TEST(ConfigMerge, EverySourceAloneAndEveryPairDecidesByPrecedence) {
    // For each subset of {command line, environment, file} setting a key: the highest wins.
    for (int mask = 0; mask < 8; ++mask) {
        const bool cli = mask & 1, in_env = mask & 2, in_file = mask & 4;
        std::set<std::string, std::less<>> on_cli;
        if (cli) on_cli.insert("rate");
        const auto env = in_env ? vals({{"rate", "env"}}, "env") : config_values{};
        const auto file = in_file ? vals({{"rate", "file"}}, "file") : config_values{};
        const auto merged = merge_config(on_cli, env, file, false);
        if (cli || (!in_env && !in_file)) {
            EXPECT_FALSE(merged.contains("rate")) << mask;
        } else {
            EXPECT_EQ(merged.at("rate").text, in_env ? "env" : "file") << mask;
        }
    }
}

TEST(ConfigMerge, KoophoneTokenOutranksATokenFileFromBelowTheCommandLine) {
    const auto file = vals({{"token-file", "/from/file"}}, "k.toml:1");
    const auto env = vals({{"token-file", "/from/env"}}, "KOOPHONE_TOKEN_FILE");
    EXPECT_FALSE(merge_config({}, {}, file, true).contains("token-file"));
    EXPECT_FALSE(merge_config({}, env, file, true).contains("token-file"));
    EXPECT_EQ(merge_config({}, env, file, false).at("token-file").text, "/from/env");
    EXPECT_EQ(merge_config({}, {}, file, false).at("token-file").text, "/from/file");
    // --token-file on the command line: nothing to apply, whatever the environment holds.
    EXPECT_FALSE(merge_config({"token-file"}, env, file, true).contains("token-file"));
}

}  // namespace
}  // namespace koorelease::cli
