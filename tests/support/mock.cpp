#include "support/mock.hpp"

#include <signal.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <simdjson.h>

#include <stdexcept>

namespace koorelease::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

mock_server::mock_server(std::vector<std::string> args, bool plain, std::string token,
                         std::map<std::string, std::string> env)
    : plain_(plain) {
    spawn_options o;
    o.env = std::move(env);
    o.args = {"mock", "--threads", "1"};
    if (plain) {
        o.args.push_back("--plain");
    } else {
        ca_file_ = dir_.file("ca.pem");
        o.args.insert(o.args.end(), {"--ca-out", ca_file_});
    }
    o.args.insert(o.args.end(), args.begin(), args.end());
    if (token.empty()) {
        o.unset_env.push_back("KOOPHONE_TOKEN");
    } else {
        o.env["KOOPHONE_TOKEN"] = token;
    }
    o.stderr_file = dir_.file("mock.err");
    process_ = std::make_unique<child>(o);
    const auto line = process_->read_line(std::chrono::seconds(30));
    if (!line) throw std::runtime_error("the mock did not start: " + read_file(dir_.file("mock.err")));
    const auto colon = line->rfind(':');
    port_ = static_cast<std::uint16_t>(std::stoi(line->substr(colon + 1)));
}

mock_server::~mock_server() {
    process_->signal(SIGTERM);
    process_->wait(std::chrono::seconds(10));
}

std::string mock_server::url() const {
    return plain_ ? "http://127.0.0.1:" + std::to_string(port_) : "https://localhost:" + std::to_string(port_);
}

namespace {

std::string get(const mock_server& m, bool plain, const std::string& ca_file, const std::string& target) {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    const auto endpoints = resolver.resolve("127.0.0.1", std::to_string(m.port()));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "localhost");
    req.keep_alive(false);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    if (plain) {
        asio::ip::tcp::socket socket(io);
        asio::connect(socket, endpoints);
        http::write(socket, req);
        http::read(socket, buffer, res);
    } else {
        asio::ssl::context ctx(asio::ssl::context::tls_client);
        ctx.load_verify_file(ca_file);
        ctx.set_verify_mode(asio::ssl::verify_peer);
        asio::ssl::stream<asio::ip::tcp::socket> stream(io, ctx);
        stream.set_verify_callback(asio::ssl::host_name_verification("localhost"));
        asio::connect(stream.next_layer(), endpoints);
        stream.handshake(asio::ssl::stream_base::client);
        http::write(stream, req);
        http::read(stream, buffer, res);
    }
    return res.body();
}

std::vector<std::uint64_t> numbers(simdjson::dom::element e) {
    std::vector<std::uint64_t> out;
    simdjson::dom::array a;
    if (e.get_array().get(a) != simdjson::SUCCESS) return out;
    for (auto v : a) out.push_back(std::uint64_t(v));
    return out;
}

std::map<std::string, std::uint64_t> counts(simdjson::dom::element e) {
    std::map<std::string, std::uint64_t> out;
    simdjson::dom::object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) return out;
    for (auto [k, v] : o) out[std::string(k)] = std::uint64_t(v);
    return out;
}

}  // namespace

mock_stats mock_server::stats() const {
    const std::string body = get(*this, plain_, ca_file_, "/mock/stats");
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(body);
    mock_stats s;
    s.requests = std::uint64_t(doc["requests"]);
    s.released = std::uint64_t(doc["released"]);
    s.released_more_than_once = std::uint64_t(doc["released_more_than_once"]);
    s.pipelined = std::uint64_t(doc["pipelined"]);
    s.dropped = std::uint64_t(doc["dropped"]);
    s.iam_requests = std::uint64_t(doc["iam_requests"]);
    s.iam_tokens_issued = std::uint64_t(doc["iam_tokens_issued"]);
    s.iam_tokens_used = std::uint64_t(doc["iam_tokens_used"]);
    s.request_ids_reused = std::uint64_t(doc["request_ids_reused"]);
    s.missing_request_id = std::uint64_t(doc["missing_request_id"]);
    s.by_status = counts(doc["by_status"]);
    s.by_error_code = counts(doc["by_error_code"]);
    s.per_second = numbers(doc["per_second"]);
    s.released_per_second = numbers(doc["released_per_second"]);
    return s;
}

std::string write_ids(const temp_dir& dir, const std::string& prefix, int count) {
    std::string text;
    for (int i = 0; i < count; ++i) text += prefix + std::to_string(i) + "\n";
    write_file(dir.file("ids.txt"), text);
    return dir.file("ids.txt");
}

run_result run_release(const temp_dir& dir, std::vector<std::string> args, std::map<std::string, std::string> env,
                       const std::string& stdin_file, std::chrono::seconds deadline) {
    spawn_options o;
    o.args = {"release", "--quiet"};
    o.args.insert(o.args.end(), args.begin(), args.end());
    bool has_output = false;
    for (const auto& a : args) has_output |= a == "--output";
    if (!has_output) o.args.insert(o.args.end(), {"--output", dir.file("out.jsonl")});
    if (!env.contains("KOOPHONE_TOKEN")) env["KOOPHONE_TOKEN"] = test_token;
    if (env["KOOPHONE_TOKEN"] == "<unset>") {
        env.erase("KOOPHONE_TOKEN");
        o.unset_env.push_back("KOOPHONE_TOKEN");
    }
    o.env = env;
    o.stdin_file = stdin_file;
    o.stdout_file = dir.file("stdout.txt");
    o.stderr_file = dir.file("stderr.txt");
    child c(o);
    run_result r;
    const auto code = c.wait(deadline);
    r.exit_code = code ? *code : -1;
    r.stderr_text = read_file(dir.file("stderr.txt"));
    std::string out_path = dir.file("out.jsonl");
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "--output") out_path = args[i + 1] == "-" ? dir.file("stdout.txt") : args[i + 1];
    }
    r.journal = read_lines(out_path);
    return r;
}

}  // namespace koorelease::test
