#include "queue_worker.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>

#include <algorithm>
#include <atomic>
#include <utility>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "koorelease/rate_limiter.hpp"
#include "redis/connection.hpp"
#include "redis/pipeline.hpp"

namespace koorelease {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()); }

// A command's words. (Not a braced list in the coroutines: g++ 12 rejects an initializer_list
// of strings built inside a coroutine's argument list.)
template <class... Words>
std::vector<std::string> argv_of(Words&&... words) {
    std::vector<std::string> v;
    v.reserve(sizeof...(words));
    (v.emplace_back(std::forward<Words>(words)), ...);
    return v;
}

// --shared-rate: the blocks of time slots the queue thread reserved in Redis, handed out to the
// engine's coroutines without a round trip. slot_pool (koorelease/queue.hpp) decides; this adds
// the lock, the clock, the request for another block when few are left, and, while Redis is
// unreachable, a local limiter at this worker's share.
class shared_permits final : public permit_source {
public:
    shared_permits(double rate, std::uint32_t batch, std::function<void()> ask)
        : slots_(rate, batch), ask_(std::move(ask)) {}

    bool try_take() override {
        std::lock_guard lock(mutex_);
        const auto now = steady::now();
        if (local_) return local_->try_reserve(now);
        const bool taken = slots_.try_take(now);
        if (slots_.low() && !asked_) {
            asked_ = true;
            ask_();
        }
        return taken;
    }
    std::chrono::nanoseconds retry_after() const override {
        std::lock_guard lock(mutex_);
        const auto next = slots_.next();
        if (local_ || !next) return std::clamp<std::chrono::nanoseconds>(slots_.interval(), 1ms, 20ms);
        return std::clamp<std::chrono::nanoseconds>(*next - steady::now(), 200us, 50ms);
    }

    // The queue thread's side.
    bool wanted() {
        std::lock_guard lock(mutex_);
        return asked_;
    }
    void add(std::uint32_t count, std::chrono::nanoseconds first_in) {
        std::lock_guard lock(mutex_);
        slots_.add(steady::now() + first_in, count);
        asked_ = slots_.low();
    }
    void use_local(double rate) {
        std::lock_guard lock(mutex_);
        local_.emplace(rate, 1, steady::now());
        slots_.clear();
    }
    void use_redis() {
        std::lock_guard lock(mutex_);
        local_.reset();
    }

private:
    mutable std::mutex mutex_;
    slot_pool slots_;
    std::function<void()> ask_;
    bool asked_ = false;
    std::optional<rate_limiter> local_;
};

// One entry's way to its end in Redis.
struct final_op {
    std::string entry_id;
    entry_action action = entry_action::finish;
    std::vector<std::string> fields;  // finish, dead_letter: the result's fields
    std::string last_error;           // leave: kept in the errors hash for the dead-letter entry
};

struct held_entry {
    std::string entry_id;
    std::uint64_t deliveries = 1;
};

}  // namespace

struct queue_worker::impl final : id_source, outcome_sink {
    queue_worker_settings s;
    outcome_sink& journal;
    redis::target target;

    asio::io_context io{1};
    std::thread thread;
    redis::connection cmd{io.get_executor()};  // pipelined commands
    redis::connection blk{io.get_executor()};  // the blocking XREADGROUP
    std::shared_ptr<shared_permits> permits;
    std::mt19937_64 rng{std::random_device{}()};

    // Shared with the engine's threads, under `mutex`.
    std::mutex mutex;
    std::condition_variable input_ready;
    std::deque<input_item> incoming;
    bool input_end = false;
    bool cancelled = false;
    std::unordered_map<std::string, std::deque<held_entry>> held;  // taken, not final: by instance id
    std::size_t held_count = 0;
    bool waiting_for_room = false;  // the reader waits for held_count to fall
    std::deque<final_op> finals;  // flushed by the sink, for the queue thread
    bool engine_done = false;
    std::atomic<std::uint64_t> items{0};
    queue_counts counts;
    std::vector<std::string> warnings;

    std::vector<final_op> staged;  // the engine thread's: written, not yet flushed to the journal

    // The queue thread's.
    bool connected = false;
    bool quit = false;
    std::uint64_t generation = 0;
    int running = 0;  // loops of the current connection still running
    std::set<asio::steady_timer*> sleepers;
    std::string gcra_sha, finish_sha, claim_sha;
    double local_rate = 0;  // set in the constructor and by set_up()
    std::promise<std::string> started;  // "" or why the first connection failed
    bool start_reported = false;

    impl(queue_worker_settings settings, outcome_sink& j) : s(std::move(settings)), journal(j) {
        target.host = s.address.host;
        target.port = s.address.port;
        target.db = s.address.db;
        target.username = s.address.username;
        target.password = s.password;
        local_rate = s.shared_rate;
        if (s.shared_rate > 0) {
            permits = std::make_shared<shared_permits>(s.shared_rate, permit_batch(s.shared_rate),
                                                       [this] { asio::post(io, [this] { wake_all(); }); });
        }
    }

    void warn(std::string_view text) {
        std::lock_guard lock(mutex);
        warnings.emplace_back(text);
    }

    // ---- id_source (the engine's reader thread) ----
    bool next(input_item& out) override {
        std::unique_lock lock(mutex);
        if (incoming.empty() && !input_end && !cancelled && before_blocking_read) {
            lock.unlock();
            before_blocking_read();
            lock.lock();
        }
        input_ready.wait(lock, [&] { return !incoming.empty() || input_end || cancelled; });
        if (cancelled || incoming.empty()) return false;
        out = std::move(incoming.front());
        incoming.pop_front();
        return true;
    }
    std::uint64_t lines_read() const override { return items.load(std::memory_order_relaxed); }
    void cancel() override {
        std::lock_guard lock(mutex);
        cancelled = true;
        input_ready.notify_all();
    }

    // ---- outcome_sink (the engine's thread) ----
    void write(const outcome_record& r) override {
        journal.write(r);
        held_entry entry;
        {
            std::lock_guard lock(mutex);
            auto it = held.find(std::string(r.instance_id));
            if (it == held.end() || it->second.empty()) return;  // not from the queue (cannot happen)
            entry = std::move(it->second.front());
            it->second.pop_front();
            if (it->second.empty()) held.erase(it);
            --held_count;
            if (waiting_for_room && held_count + s.read_count <= s.max_held) {
                waiting_for_room = false;
                asio::post(io, [this] { wake_all(); });
            }
        }
        const auto d = decide_entry(r.outcome, r.retryable, entry.deliveries, s.max_deliveries);
        final_op op;
        op.entry_id = std::move(entry.entry_id);
        op.action = d.action;
        if (d.action == entry_action::leave) {
            op.last_error = r.reason.empty() ? std::string(r.outcome) : std::string(r.reason);
        } else {
            std::string line;
            format_record(line, r);
            std::string reason(r.reason);
            if (d.action == entry_action::dead_letter) {
                reason = dead_letter_reason(entry.deliveries, reason);
            }
            op.fields = result_fields(r.instance_id, d.result, reason, entry.deliveries, op.entry_id, s.consumer, line);
        }
        staged.push_back(std::move(op));
    }
    void flush() override {
        journal.flush();
        hand_on_staged();
    }
    void sync() override {
        journal.sync();
        hand_on_staged();
    }
    // Outcomes in the journal file go on to Redis.
    void hand_on_staged() {
        if (staged.empty()) return;
        {
            std::lock_guard lock(mutex);
            for (auto& op : staged) finals.push_back(std::move(op));
        }
        staged.clear();
        asio::post(io, [this] { wake_all(); });
    }

    // ---- the queue thread ----
    void wake_all() {
        for (auto* t : sleepers) t->cancel();
    }
    asio::awaitable<void> nap(std::chrono::nanoseconds d) {
        asio::steady_timer timer(io, d);
        sleepers.insert(&timer);
        co_await timer.async_wait(use_tuple);
        sleepers.erase(&timer);
    }

    bool alive(std::uint64_t gen) const { return connected && gen == generation && !quit; }

    // The connection is gone (or we are quitting): both are closed, so that every command in
    // flight ends, and the loops see it.
    void lose(std::string_view why) {
        if (!connected) return;
        connected = false;
        ++generation;
        if (!quit) {
            ++counts.reconnects;
            warn("lost the connection to Redis at " + s.address.to_string() + " (" + std::string(why) +
                 "): taking no new entries; finishing those held; reconnecting");
            if (permits) permits->use_local(local_rate);
        }
        cmd.close();
        blk.close();
        wake_all();
    }

    // A command on the pipelined connection; nullopt when the connection failed (then lost).
    asio::awaitable<std::optional<redis::reply>> run(std::vector<std::string> argv) {
        auto [ec, reply] = co_await cmd.command(std::move(argv), s.redis_timeout);
        if (ec) {
            lose(cmd.last_error().empty() ? ec.message() : cmd.last_error());
            co_return std::nullopt;
        }
        co_return std::move(reply);
    }

    // EVALSHA, falling back to EVAL when the server lost its script cache.
    asio::awaitable<std::optional<redis::reply>> eval(const std::string& sha, std::string_view script,
                                                       std::vector<std::string> args) {
        std::vector<std::string> argv{"EVALSHA", sha};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = co_await run(std::move(argv));
        if (r && r->is_error() && r->text.starts_with("NOSCRIPT")) {
            std::vector<std::string> again{"EVAL", std::string(script)};
            again.insert(again.end(), args.begin(), args.end());
            r = co_await run(std::move(again));
        }
        co_return r;
    }

    asio::awaitable<std::string> load(std::string_view script, std::string& sha) {
        auto r = co_await run(argv_of("SCRIPT", "LOAD", std::string(script)));
        if (!r) co_return cmd.last_error();
        if (r->is_error()) co_return "SCRIPT LOAD: " + r->text;
        sha = r->text;
        co_return "";
    }

    // Connects both connections, loads the scripts, joins the group. "" or what went wrong.
    asio::awaitable<std::string> set_up() {
        if (auto ec = co_await cmd.connect(target, s.redis_timeout)) {
            co_return cmd.last_error().empty() ? ec.message() : cmd.last_error();
        }
        if (auto ec = co_await blk.connect(target, s.redis_timeout)) {
            cmd.close();
            co_return blk.last_error().empty() ? ec.message() : blk.last_error();
        }
        connected = true;
        for (auto [script, sha] : {std::pair{gcra_script, &gcra_sha}, std::pair{finish_script, &finish_sha},
                                   std::pair{claim_script, &claim_sha}}) {
            if (auto e = co_await load(script, *sha); !e.empty()) co_return e;
        }
        auto r = co_await run(argv_of("XGROUP", "CREATE", s.address.stream, s.address.group, "0", "MKSTREAM"));
        if (!r) co_return cmd.last_error();
        if (r->is_error() && !r->text.starts_with("BUSYGROUP")) co_return "XGROUP CREATE: " + r->text;
        if (permits) {
            // While Redis is unreachable later, this worker's share of the rate stands in.
            std::uint64_t consumers = 1;
            if (auto g = co_await run(argv_of("XINFO", "GROUPS", s.address.stream)); g && g->type == redis::reply::kind::array) {
                for (const auto& group : g->elements) {
                    for (std::size_t i = 0; i + 1 < group.elements.size(); i += 2) {
                        if (group.elements[i].text == "name" && group.elements[i + 1].text != s.address.group) break;
                        if (group.elements[i].text == "consumers") {
                            consumers = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(group.elements[i + 1].integer));
                        }
                    }
                }
            }
            local_rate = s.shared_rate / static_cast<double>(consumers);
            permits->use_redis();
        }
        co_return "";
    }

    asio::awaitable<void> supervise() {
        std::uint32_t failures = 0;
        bool outage_reported = false;
        std::optional<steady::time_point> give_up_at;
        for (;;) {
            if (engine_done_and_nothing_left()) break;
            if (engine_done_now() && !give_up_at) give_up_at = steady::now() + s.final_wait;
            if (give_up_at && steady::now() >= *give_up_at) break;
            const std::string problem = co_await set_up();
            if (!problem.empty()) {
                const bool was_connected = connected;
                connected = false;
                cmd.close();
                blk.close();
                if (!start_reported) {
                    start_reported = true;
                    started.set_value("cannot use Redis at " + s.address.to_string() + ": " + problem);
                    co_return;
                }
                if (!outage_reported || was_connected) {
                    warn("cannot reach Redis at " + s.address.to_string() + ": " + problem + "; retrying");
                    outage_reported = true;
                }
                co_await nap(s.reconnect_backoff.delay(std::min<std::uint32_t>(failures++, 20), rng));
                continue;
            }
            if (!start_reported) {
                start_reported = true;
                started.set_value("");
            } else if (outage_reported || counts.reconnects > 0) {
                warn("connected to Redis at " + s.address.to_string() + " again");
            }
            failures = 0;
            outage_reported = false;
            const std::uint64_t gen = generation;
            running = 0;
            spawn_loop(reader(gen));
            spawn_loop(finisher(gen));
            spawn_loop(heartbeat(gen));
            if (permits) spawn_loop(refiller(gen));
            while (running > 0) co_await nap(1s);
            if (quit) break;
        }
        // The end: what Redis did not take stays pending there, and is delivered again.
        std::lock_guard lock(mutex);
        counts.unacknowledged = finals.size();
        for (const auto& op : finals) {
            if (op.action == entry_action::leave) --counts.unacknowledged;
        }
        quit = true;
        cmd.close();
        blk.close();
    }

    void spawn_loop(asio::awaitable<void> loop) {
        ++running;
        asio::co_spawn(io, std::move(loop), [this](std::exception_ptr e) {
            --running;
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    lose(std::string("internal error: ") + x.what());
                }
            }
            wake_all();
        });
    }

    bool engine_done_now() {
        std::lock_guard lock(mutex);
        return engine_done;
    }
    bool engine_done_and_nothing_left() {
        std::lock_guard lock(mutex);
        return engine_done && finals.empty();
    }

    // Hands entries to the engine (or, when they can never succeed, to the dead-letter stream).
    // An entry to finish or dead-letter without a journal record (never sent).
    final_op result_op(const std::string& entry_id, const entry_decision& d, std::string_view instance_id,
                       std::string_view reason, std::uint64_t deliveries) const {
        final_op op;
        op.entry_id = entry_id;
        op.action = d.action;
        op.fields = result_fields(instance_id, d.result, reason, deliveries, entry_id, s.consumer, "");
        return op;
    }

    void take_entry(const std::string& entry_id, const redis::reply* instance_id, std::uint64_t deliveries,
                    std::vector<final_op>& dead) {
        std::string id_text;
        std::string problem;
        if (instance_id == nullptr || instance_id->type != redis::reply::kind::string) {
            problem = "the entry has no instance_id field";
        } else {
            const auto parsed = parse_line(instance_id->text);
            if (parsed.what == parsed_line::kind::id) {
                id_text = std::string(parsed.text);
            } else {
                problem = parsed.what == parsed_line::kind::skip ? std::string("empty instance_id")
                                                                 : "invalid instance_id: " + std::string(parsed.text);
            }
        }
        if (!problem.empty()) {
            // What becomes of an id that is not one (decide_entry: dead-lettered at once).
            const auto d = decide_entry(outcome::invalid, false, deliveries, s.max_deliveries);
            dead.push_back(result_op(entry_id, d,
                                     instance_id && instance_id->type == redis::reply::kind::string ? instance_id->text : "",
                                     problem, deliveries));
            warn("queue entry " + entry_id + ": " + problem + ": dead-lettered");
            return;
        }
        std::lock_guard lock(mutex);
        held[id_text].push_back({entry_id, deliveries});
        ++held_count;
        input_item item;
        item.text = std::move(id_text);
        item.line = items.fetch_add(1, std::memory_order_relaxed) + 1;
        incoming.push_back(std::move(item));
        input_ready.notify_one();
    }

    void queue_finals(std::vector<final_op>& ops) {
        if (ops.empty()) return;
        std::lock_guard lock(mutex);
        for (auto& op : ops) finals.push_back(std::move(op));
        ops.clear();
    }

    // Claims entries idle past --claim-idle; returns false when the connection failed.
    asio::awaitable<bool> claim(std::uint64_t gen, bool& found) {
        std::string cursor = "0-0";
        found = false;
        do {
            auto r = co_await eval(claim_sha, claim_script,
                                   argv_of("1", s.address.stream, s.address.group, s.consumer, ms_text(s.claim_idle), cursor,
                                           std::to_string(s.read_count)));
            if (!r || !alive(gen)) co_return false;
            if (r->is_error() || r->elements.size() < 2) {
                warn("claiming idle entries failed: " + (r->is_error() ? r->text : std::string("unexpected answer")));
                co_return true;
            }
            cursor = r->elements[0].text;
            std::vector<final_op> dead;
            for (const auto& e : r->elements[1].elements) {
                if (e.elements.size() < 3) continue;
                const std::string& entry_id = e.elements[0].text;
                const auto deliveries = static_cast<std::uint64_t>(std::max(1LL, e.elements[1].integer));
                found = true;
                {
                    std::lock_guard lock(mutex);
                    ++counts.claimed;
                }
                if (dead_letter_on_claim(deliveries, s.max_deliveries)) {
                    std::string last = "no outcome recorded (the worker holding it stopped or died)";
                    if (auto h = co_await run(argv_of("HGET", s.address.errors_hash(), entry_id)); !h) {
                        co_return false;
                    } else if (h->type == redis::reply::kind::string) {
                        last = h->text;
                    }
                    dead.push_back(result_op(entry_id, {entry_action::dead_letter, "dead_letter"},
                                             e.elements[2].type == redis::reply::kind::string ? e.elements[2].text : "",
                                             dead_letter_reason(deliveries, last), deliveries));
                    continue;
                }
                take_entry(entry_id, &e.elements[2], deliveries, dead);
            }
            queue_finals(dead);
        } while (cursor != "0-0" && room());
        co_return true;
    }

    // Whether to take more entries; when not for want of room, write() wakes the reader.
    bool room() {
        std::lock_guard lock(mutex);
        if (cancelled || engine_done || input_end) return false;
        if (held_count < s.max_held) return true;
        waiting_for_room = true;
        return false;
    }

    asio::awaitable<void> reader(std::uint64_t gen) {
        const auto claim_every = std::max<std::chrono::milliseconds>(s.claim_idle / 2, 50ms);
        auto next_claim = steady::now();
        while (alive(gen)) {
            if (!room()) {
                co_await nap(1s);
                continue;
            }
            bool claimed = false;
            if (steady::now() >= next_claim) {
                if (!co_await claim(gen, claimed)) co_return;
                next_claim = steady::now() + claim_every;
                if (!room()) continue;
            }
            const auto until_claim = std::chrono::duration_cast<std::chrono::milliseconds>(next_claim - steady::now());
            std::size_t want;
            bool idle;
            {
                std::lock_guard lock(mutex);
                want = std::min<std::size_t>(s.read_count, s.max_held - held_count);
                idle = held_count == 0 && finals.empty();
            }
            // Draining with nothing held, the stream may be empty: look again soon, so that the
            // worker ends within a tenth of a second of the last acknowledgement.
            const auto block = std::clamp<std::chrono::milliseconds>(until_claim, 1ms, s.drain && idle ? 100ms : 1000ms);
            auto [ec, r] = co_await blk.command(argv_of("XREADGROUP", "GROUP", s.address.group, s.consumer, "COUNT",
                                                 std::to_string(want), "BLOCK", ms_text(block), "STREAMS",
                                                 s.address.stream, ">"),
                                                s.redis_timeout + block);
            if (ec) {
                lose(blk.last_error().empty() ? ec.message() : blk.last_error());
                co_return;
            }
            if (!alive(gen)) co_return;
            if (r.is_error()) {
                // NOGROUP: the stream or the group was deleted under us: make them again.
                warn("XREADGROUP: " + r.text);
                if (r.text.starts_with("NOGROUP")) {
                    lose("the group is gone");
                    co_return;
                }
                co_await nap(1s);
                continue;
            }
            std::size_t got = 0;
            std::vector<final_op> dead;
            if (r.type == redis::reply::kind::array) {
                for (const auto& stream : r.elements) {
                    if (stream.elements.size() < 2) continue;
                    for (const auto& e : stream.elements[1].elements) {
                        if (e.elements.empty()) continue;
                        ++got;
                        const redis::reply* iid = nullptr;
                        if (e.elements.size() > 1) {
                            const auto& f = e.elements[1].elements;
                            for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
                                if (f[i].text == "instance_id") iid = &f[i + 1];
                            }
                        }
                        take_entry(e.elements[0].text, iid, 1, dead);
                    }
                }
            }
            {
                std::lock_guard lock(mutex);
                counts.taken += got;
            }
            queue_finals(dead);
            if (!dead.empty() || got > 0) wake_all();
            if (got == 0 && !claimed && s.drain && co_await drained(gen)) {
                std::lock_guard lock(mutex);
                input_end = true;
                input_ready.notify_all();
            }
        }
    }

    // --drain: nothing new in the stream, nothing pending in the group, nothing held here.
    asio::awaitable<bool> drained(std::uint64_t gen) {
        {
            std::lock_guard lock(mutex);
            if (held_count > 0 || !finals.empty()) co_return false;
        }
        auto r = co_await run(argv_of("XPENDING", s.address.stream, s.address.group));
        if (!r || !alive(gen) || r->type != redis::reply::kind::array || r->elements.empty()) co_return false;
        if (r->elements[0].integer != 0) co_return false;
        std::lock_guard lock(mutex);
        co_return held_count == 0 && finals.empty();
    }

    // Acknowledges final outcomes (and records them), pipelined.
    asio::awaitable<void> finisher(std::uint64_t gen) {
        while (alive(gen)) {
            std::vector<final_op> batch;
            {
                std::lock_guard lock(mutex);
                while (!finals.empty() && batch.size() < 512) {
                    batch.push_back(std::move(finals.front()));
                    finals.pop_front();
                }
            }
            if (batch.empty()) {
                if (engine_done_and_nothing_left()) {
                    co_await leave_group_if_idle();
                    quit = true;
                    lose("done");
                    co_return;
                }
                co_await nap(1s);
                continue;
            }
            // All at once: the connection pipelines them.
            std::vector<std::vector<std::string>> commands;
            commands.reserve(batch.size());
            for (const auto& op : batch) {
                if (op.action == entry_action::leave) {
                    commands.push_back(argv_of("HSET", s.address.errors_hash(), op.entry_id, op.last_error));
                } else {
                    commands.push_back(argv_of("EVALSHA", finish_sha));
                    auto args = finish_args(op);
                    commands.back().insert(commands.back().end(), args.begin(), args.end());
                }
            }
            auto results = co_await redis::pipeline(cmd, std::move(commands), s.redis_timeout);
            std::vector<final_op> failed;
            for (std::size_t i = 0; i < batch.size(); ++i) {
                auto& [ec, reply] = results[i];
                if (!ec && reply.is_error() && reply.text.starts_with("NOSCRIPT")) {
                    // The server lost its scripts (SCRIPT FLUSH): once more with the script's text.
                    auto again = argv_of("EVAL", std::string(finish_script));
                    auto args = finish_args(batch[i]);
                    again.insert(again.end(), args.begin(), args.end());
                    std::tie(ec, reply) = co_await cmd.command(std::move(again), s.redis_timeout);
                }
                if (ec) {
                    failed.push_back(std::move(batch[i]));
                } else {
                    settle(batch[i], reply);
                }
            }
            if (!failed.empty()) {
                // Not sent, or sent without an answer: sent again after the reconnection (the
                // finish script does nothing to an entry already acknowledged).
                {
                    std::lock_guard lock(mutex);
                    for (auto it = failed.rbegin(); it != failed.rend(); ++it) finals.push_front(std::move(*it));
                }
                lose(cmd.last_error().empty() ? "a command failed" : cmd.last_error());
                co_return;
            }
        }
    }

    // At the end: a consumer that holds nothing is removed from the group, so that `queue status`
    // and the fallback share of --shared-rate count live workers only. One that still holds
    // entries (left for another delivery) stays: removing it would drop them.
    asio::awaitable<void> leave_group_if_idle() {
        auto r = co_await run(argv_of("XPENDING", s.address.stream, s.address.group, "-", "+", "1", s.consumer));
        if (!r || r->type != redis::reply::kind::array || !r->elements.empty()) co_return;
        co_await run(argv_of("XGROUP", "DELCONSUMER", s.address.stream, s.address.group, s.consumer));
    }

    // The KEYS and ARGV of finish_script for an entry to finish or dead-letter.
    std::vector<std::string> finish_args(const final_op& op) const {
        auto args = argv_of("5", s.address.stream, s.address.results_stream(), s.address.dead_stream(),
                            s.address.errors_hash(), s.address.counts_hash(), s.address.group, op.entry_id,
                            op.action == entry_action::dead_letter ? "dead" : "finish");
        args.insert(args.end(), op.fields.begin(), op.fields.end());
        return args;
    }

    // What Redis answered to an entry's final command.
    void settle(const final_op& op, const redis::reply& r) {
        if (r.is_error()) {
            // Not acknowledged: the entry stays pending and is delivered again after --claim-idle.
            warn("recording the outcome of queue entry " + op.entry_id + " failed: " + r.text);
            return;
        }
        std::lock_guard lock(mutex);
        if (op.action == entry_action::leave) {
            ++counts.left_pending;
        } else if (r.integer == 1) {
            ++(op.action == entry_action::dead_letter ? counts.dead_lettered : counts.finished);
        } else {
            ++counts.already_acked;
        }
    }

    // Keeps the entries this worker holds from looking idle, so that no live worker claims them.
    asio::awaitable<void> heartbeat(std::uint64_t gen) {
        const auto every = std::max<std::chrono::milliseconds>(s.claim_idle / 3, 20ms);
        while (alive(gen)) {
            co_await nap(every);
            if (!alive(gen)) co_return;
            std::vector<std::string> ids;
            {
                std::lock_guard lock(mutex);
                for (const auto& [id, entries] : held) {
                    for (const auto& e : entries) ids.push_back(e.entry_id);
                }
            }
            for (std::size_t at = 0; at < ids.size(); at += 500) {
                std::vector<std::string> argv{"XCLAIM", s.address.stream, s.address.group, s.consumer, "0"};
                for (std::size_t i = at; i < std::min(ids.size(), at + 500); ++i) argv.push_back(ids[i]);
                argv.push_back("JUSTID");
                if (!co_await run(std::move(argv))) co_return;
            }
        }
    }

    // --shared-rate: keeps this worker holding a block of the fleet's slots ahead of its need.
    asio::awaitable<void> refiller(std::uint64_t gen) {
        const std::uint32_t batch = permit_batch(s.shared_rate);
        char rate_text[32];
        std::snprintf(rate_text, sizeof rate_text, "%.6f", s.shared_rate);
        while (alive(gen)) {
            if (!permits->wanted()) {
                co_await nap(1s);
                continue;
            }
            auto r = co_await eval(gcra_sha, gcra_script,
                                   argv_of("1", s.address.rate_key(), rate_text, std::to_string(batch),
                                           std::to_string(slot_lookahead_us)));
            if (!r || !alive(gen)) co_return;
            if (r->is_error() || r->elements.size() < 2) {
                warn("taking shared-rate permits failed: " + (r->is_error() ? r->text : std::string("unexpected answer")));
                co_await nap(1s);
                continue;
            }
            const auto granted = static_cast<std::uint32_t>(std::max(0LL, r->elements[0].integer));
            const auto micros = std::chrono::microseconds(std::max(0LL, r->elements[1].integer));
            {
                std::lock_guard lock(mutex);
                ++counts.permit_requests;
                counts.shared_permits += granted;
            }
            if (granted > 0) {
                permits->add(granted, micros);
            } else {
                co_await nap(micros);  // the fleet holds slots far enough ahead
            }
        }
    }
};

queue_worker::queue_worker(queue_worker_settings settings, outcome_sink& journal)
    : impl_(std::make_unique<impl>(std::move(settings), journal)) {}

queue_worker::~queue_worker() {
    if (impl_->thread.joinable()) {
        asio::post(impl_->io, [i = impl_.get()] {
            i->quit = true;
            i->cmd.close();
            i->blk.close();
            i->wake_all();
        });
        impl_->thread.join();
    }
}

void queue_worker::start() {
    auto started = impl_->started.get_future();
    asio::co_spawn(impl_->io, impl_->supervise(), asio::detached);
    impl_->thread = std::thread([i = impl_.get()] { i->io.run(); });
    const std::string problem = started.get();
    if (!problem.empty()) {
        impl_->thread.join();
        throw std::runtime_error(problem + " (check the host and port, that Redis runs, and "
                                           "KOORELEASE_REDIS_PASSWORD if it needs one)");
    }
}

id_source& queue_worker::source() { return *impl_; }
outcome_sink& queue_worker::sink() { return *impl_; }
std::shared_ptr<permit_source> queue_worker::permits() { return impl_->permits; }

std::vector<std::string> queue_worker::take_warnings() {
    std::lock_guard lock(impl_->mutex);
    return std::exchange(impl_->warnings, {});
}

queue_counts queue_worker::finish() {
    impl_->hand_on_staged();
    {
        std::lock_guard lock(impl_->mutex);
        impl_->engine_done = true;
        impl_->cancelled = true;
    }
    asio::post(impl_->io, [i = impl_.get()] { i->wake_all(); });
    if (impl_->thread.joinable()) impl_->thread.join();
    std::lock_guard lock(impl_->mutex);
    return impl_->counts;
}

std::string default_consumer_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "%s", "worker");
    return std::string(host) + "-" + std::to_string(::getpid());
}

}  // namespace koorelease
