// `koorelease enqueue` (the producer of the shared queue) and `koorelease queue status`.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "commands.hpp"
#include "koorelease/id_set.hpp"
#include "koorelease/input.hpp"
#include "koorelease/json_text.hpp"
#include "koorelease/queue.hpp"
#include "queue_cli.hpp"
#include "redis/connection.hpp"
#include "redis/pipeline.hpp"

namespace koorelease::cli {

namespace asio = boost::asio;

queue_address queue_option(const std::string& url) {
    auto parsed = parse_queue_address(url);
    if (auto* e = std::get_if<std::string>(&parsed)) throw CLI::ValidationError(*e);
    return std::get<queue_address>(parsed);
}

std::string redis_password() {
    const char* p = std::getenv("KOORELEASE_REDIS_PASSWORD");
    return p == nullptr ? std::string() : std::string(p);
}

redis::target redis_target(const queue_address& q) {
    redis::target t;
    t.host = q.host;
    t.port = q.port;
    t.db = q.db;
    t.username = q.username;
    t.password = redis_password();
    return t;
}

namespace {

constexpr auto redis_timeout = std::chrono::seconds(10);

// Runs one coroutine on an event loop of its own and returns its exit code.
int run_on_loop(std::function<asio::awaitable<int>(asio::io_context&)> body) {
    asio::io_context io;
    int code = 3;
    std::exception_ptr failure;
    asio::co_spawn(io, body(io), [&](std::exception_ptr e, int c) {
        failure = e;
        code = c;
    });
    io.run();
    if (failure) std::rethrow_exception(failure);
    return code;
}

asio::awaitable<bool> connect_or_say(redis::connection& c, const queue_address& q) {
    if (auto ec = co_await c.connect(redis_target(q), std::chrono::milliseconds(redis_timeout))) {
        std::fprintf(stderr,
                     "koorelease: cannot use Redis at %s: %s (check the host and port, that Redis runs, and "
                     "KOORELEASE_REDIS_PASSWORD if it needs one)\n",
                     q.to_string().c_str(), (c.last_error().empty() ? ec.message() : c.last_error()).c_str());
        co_return false;
    }
    co_return true;
}

struct enqueue_options {
    std::string queue;
    std::string input = "-";
    bool no_dedup = false;
    std::uint32_t batch = 1000;
    bool quiet = false;
};

std::vector<std::string> xadd_command(const queue_address& q, const std::string& id) {
    return {"XADD", q.stream, "*", "instance_id", id};
}

// Adds one entry per valid id, in pipelined batches; every reply is checked before the count
// is reported, so "enqueued N" is what Redis holds.
asio::awaitable<int> enqueue(asio::io_context& io, const enqueue_options& o, const queue_address& q,
                             id_source& source) {
    redis::connection c(io.get_executor());
    if (!co_await connect_or_say(c, q)) co_return 3;
    id_set seen;
    std::uint64_t added = 0, duplicates = 0, invalid = 0;
    std::vector<std::vector<std::string>> batch;
    std::vector<std::uint64_t> lines;
    bool input_done = false;
    std::string read_error;
    while (!input_done) {
        batch.clear();
        lines.clear();
        input_item item;
        try {
            while (batch.size() < o.batch) {
                if (!source.next(item)) {
                    input_done = true;
                    break;
                }
                if (!item.valid) {
                    ++invalid;
                    std::fprintf(stderr, "koorelease: input line %llu: %s: not enqueued\n",
                                 static_cast<unsigned long long>(item.line), item.text.c_str());
                    continue;
                }
                if (!o.no_dedup && !seen.insert(item.text)) {
                    ++duplicates;
                    continue;
                }
                batch.push_back(xadd_command(q, item.text));
                lines.push_back(item.line);
            }
        } catch (const std::exception& e) {
            read_error = e.what();
            input_done = true;
        }
        const auto results = co_await redis::pipeline(c, std::move(batch), std::chrono::milliseconds(redis_timeout));
        for (std::size_t i = 0; i < results.size(); ++i) {
            const auto& [ec, reply] = results[i];
            if (ec || reply.is_error()) {
                std::fprintf(stderr,
                             "koorelease: enqueued %llu ids, then Redis failed at input line %llu: %s; "
                             "run again from that line (the ids before it are in the stream)\n",
                             static_cast<unsigned long long>(added), static_cast<unsigned long long>(lines[i]),
                             ec ? (c.last_error().empty() ? ec.message() : c.last_error()).c_str() : reply.text.c_str());
                co_return 3;
            }
            ++added;
        }
    }
    if (!read_error.empty()) {
        std::fprintf(stderr, "koorelease: %s (enqueued %llu ids before it)\n", read_error.c_str(),
                     static_cast<unsigned long long>(added));
        co_return 3;
    }
    std::fprintf(stderr, "koorelease: enqueued %llu ids to %s (%llu duplicates skipped, %llu invalid lines)\n",
                 static_cast<unsigned long long>(added), q.to_string().c_str(),
                 static_cast<unsigned long long>(duplicates), static_cast<unsigned long long>(invalid));
    std::printf("%llu\n", static_cast<unsigned long long>(added));
    co_return invalid > 0 ? 1 : 0;
}

void append_json_string(std::string& out, std::string_view text) {
    out += '"';
    append_json_escaped_lossy(out, text);
    out += '"';
}

// The value of `name` in a flat [name, value, name, value...] reply.
const redis::reply* field(const redis::reply& r, std::string_view name) {
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
        if (r.elements[i].text == name) return &r.elements[i + 1];
    }
    return nullptr;
}

long long integer_of(const redis::reply* r) {
    if (r == nullptr) return 0;
    if (r->type == redis::reply::kind::integer) return r->integer;
    if (r->type == redis::reply::kind::string) return std::atoll(r->text.c_str());
    return 0;
}

// (Built outside the coroutine: g++ 12 rejects braced lists of strings inside one.)
std::vector<std::vector<std::string>> status_commands(const queue_address& q) {
    return {{"XLEN", q.stream},
            {"XINFO", "GROUPS", q.stream},
            {"XINFO", "CONSUMERS", q.stream, q.group},
            {"XLEN", q.dead_stream()},
            {"XLEN", q.results_stream()},
            {"HGETALL", q.counts_hash()}};
}

asio::awaitable<int> status(asio::io_context& io, const queue_address& q, bool json) {
    redis::connection c(io.get_executor());
    if (!co_await connect_or_say(c, q)) co_return 3;
    auto r = co_await redis::pipeline(c, status_commands(q), std::chrono::milliseconds(redis_timeout));
    for (const auto& [ec, reply] : r) {
        if (ec) {
            std::fprintf(stderr, "koorelease: Redis at %s failed: %s\n", q.to_string().c_str(),
                         (c.last_error().empty() ? ec.message() : c.last_error()).c_str());
            co_return 3;
        }
    }
    const long long length = r[0].second.integer;
    long long pending = 0, lag = -1;
    bool group_found = false;
    if (!r[1].second.is_error()) {
        for (const auto& g : r[1].second.elements) {
            const auto* name = field(g, "name");
            if (name == nullptr || name->text != q.group) continue;
            group_found = true;
            pending = integer_of(field(g, "pending"));
            if (const auto* l = field(g, "lag"); l != nullptr && l->type != redis::reply::kind::nil) lag = integer_of(l);
        }
    }
    struct consumer {
        std::string name;
        long long pending = 0, idle_ms = 0;
    };
    std::vector<consumer> consumers;
    if (!r[2].second.is_error()) {
        for (const auto& cr : r[2].second.elements) {
            consumer k;
            if (const auto* n = field(cr, "name")) k.name = n->text;
            k.pending = integer_of(field(cr, "pending"));
            k.idle_ms = integer_of(field(cr, "idle"));
            consumers.push_back(std::move(k));
        }
    }
    const long long dead = r[3].second.integer, results = r[4].second.integer;
    std::map<std::string, long long> by_outcome;
    for (std::size_t i = 0; i + 1 < r[5].second.elements.size(); i += 2) {
        by_outcome[r[5].second.elements[i].text] = integer_of(&r[5].second.elements[i + 1]);
    }
    if (json) {
        std::string out = "{\"queue\":";
        append_json_string(out, q.to_string());
        out += ",\"length\":" + std::to_string(length) + ",\"group_exists\":" + (group_found ? "true" : "false") +
               ",\"pending\":" + std::to_string(pending) + ",\"undelivered\":" + std::to_string(lag) +
               ",\"dead_letter\":" + std::to_string(dead) + ",\"results\":" + std::to_string(results) +
               ",\"results_by_outcome\":{";
        bool first = true;
        for (const auto& [k, v] : by_outcome) {
            if (!first) out += ",";
            first = false;
            append_json_string(out, k);
            out += ":" + std::to_string(v);
        }
        out += "},\"consumers\":[";
        first = true;
        for (const auto& k : consumers) {
            if (!first) out += ",";
            first = false;
            out += "{\"name\":";
            append_json_string(out, k.name);
            out += ",\"pending\":" + std::to_string(k.pending) + ",\"idle_ms\":" + std::to_string(k.idle_ms) + "}";
        }
        out += "]}\n";
        std::fputs(out.c_str(), stdout);
        co_return 0;
    }
    std::string out = "queue " + q.to_string() + "\n";
    out += "  entries not yet final: " + std::to_string(length);
    if (!group_found) {
        out += " (the group '" + q.group + "' does not exist yet: no worker has joined)\n";
    } else {
        out += " (" + (lag >= 0 ? std::to_string(lag) : std::string("?")) + " not yet delivered, " +
               std::to_string(pending) + " pending with workers)\n";
        for (const auto& k : consumers) {
            char line[256];
            std::snprintf(line, sizeof line, "  worker %s: %lld pending, last seen %.1f s ago\n", k.name.c_str(),
                          k.pending, static_cast<double>(k.idle_ms) / 1000.0);
            out += line;
        }
    }
    out += "  results: " + std::to_string(results);
    if (!by_outcome.empty()) {
        out += " (";
        bool first = true;
        for (const auto& [k, v] : by_outcome) {
            if (!first) out += ", ";
            first = false;
            out += k + " " + std::to_string(v);
        }
        out += ")";
    }
    out += "\n  dead-letter: " + std::to_string(dead) + (dead > 0 ? " (XRANGE " + q.dead_stream() + " - + shows them)" : "") + "\n";
    std::fputs(out.c_str(), stdout);
    co_return 0;
}

}  // namespace

void add_enqueue_command(CLI::App& root, command_action& action) {
    auto o = std::make_shared<enqueue_options>();
    CLI::App* cmd = root.add_subcommand(
        "enqueue",
        "Add one entry per instance id to a shared queue (a Redis stream) for `release --queue` workers. "
        "Input lines are checked as `release` checks them; invalid ones are reported and not added. "
        "The Redis password, if any, is read from KOORELEASE_REDIS_PASSWORD.");
    cmd->add_option("--queue", o->queue, "redis://HOST[:PORT]/STREAM[?db=N] (see README, Many workers)")->required();
    cmd->add_option("input", o->input, "File of instance ids, one per line; - or none for stdin");
    cmd->add_flag("--no-dedup", o->no_dedup, "Add repeated ids again (default: each distinct id once)");
    cmd->add_option("--batch", o->batch, "Entries sent to Redis at once (pipelined)")->capture_default_str()
        ->check(CLI::Range(1u, 100000u));
    cmd->callback([&action, o] {
        action = [o] {
            const auto q = queue_option(o->queue);
            std::string error;
            auto source = open_input(o->input, error);
            if (!source) throw CLI::ValidationError(error);
            if (o->input == "-" && ::isatty(STDIN_FILENO) == 1) {
                std::fprintf(stderr, "koorelease: reading instance ids from the terminal, one per line; end with Ctrl-D\n");
            }
            return run_on_loop([&](asio::io_context& io) { return enqueue(io, *o, q, *source); });
        };
    });
}

void add_queue_command(CLI::App& root, command_action& action) {
    CLI::App* queue = root.add_subcommand("queue", "Look at a shared queue");
    queue->require_subcommand(1);
    auto url = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    CLI::App* st = queue->add_subcommand(
        "status",
        "Entries not yet final, pending per worker, results by outcome and the dead-letter count of a shared queue");
    st->add_option("--queue", *url, "redis://HOST[:PORT]/STREAM[?group=NAME&db=N]")->required();
    st->add_flag("--json", *json, "One JSON object on stdout instead of text");
    st->callback([&action, url, json] {
        action = [url, json] {
            const auto q = queue_option(*url);
            return run_on_loop([&](asio::io_context& io) { return status(io, q, *json); });
        };
    });
}

}  // namespace koorelease::cli
