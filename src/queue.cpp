#include "koorelease/queue.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "koorelease/endpoint.hpp"
#include "koorelease/journal.hpp"

namespace koorelease {

namespace {

std::string bad_url(std::string_view url, std::string_view why) {
    return "invalid --queue '" + std::string(url) + "': " + std::string(why) +
           " (expected redis://HOST[:PORT]/STREAM[?group=NAME&consumer=NAME&db=N], e.g. "
           "redis://10.0.0.5:6379/koo:release?group=reclaim)";
}

// Names of streams, groups and consumers: printable ASCII without spaces, so that they survive
// logs and redis-cli unquoted.
bool valid_name(std::string_view s) {
    if (s.empty() || s.size() > 200) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 127 && c != '?' && c != '&'; });
}

template <class Int>
bool parse_number(std::string_view text, Int& out) {
    if (text.empty()) return false;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
}

}  // namespace

std::string queue_address::to_string() const {
    std::string s = "redis://";
    if (!username.empty()) s += username + "@";
    s += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    s += ":" + std::to_string(port) + "/" + stream + "?group=" + group;
    if (db != 0) s += "&db=" + std::to_string(db);
    return s;
}

std::variant<queue_address, std::string> parse_queue_address(std::string_view url) {
    queue_address q;
    if (!url.starts_with("redis://")) {
        if (url.starts_with("rediss://")) return bad_url(url, "TLS to Redis (rediss://) is not supported yet");
        return bad_url(url, "the scheme must be redis://");
    }
    std::string_view rest = url.substr(8);
    std::string_view query;
    if (const auto q_at = rest.find('?'); q_at != std::string_view::npos) {
        query = rest.substr(q_at + 1);
        rest = rest.substr(0, q_at);
    }
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash + 1 == rest.size()) {
        return bad_url(url, "the stream is missing: name it after the host, e.g. /koo:release");
    }
    std::string_view authority = rest.substr(0, slash);
    const std::string_view stream = rest.substr(slash + 1);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const std::string_view user = authority.substr(0, at);
        if (user.find(':') != std::string_view::npos) {
            return bad_url(url, "a password has no place in the URL (a command line is visible to every user): "
                                "put it in KOORELEASE_REDIS_PASSWORD");
        }
        if (!valid_name(user)) return bad_url(url, "invalid user name");
        q.username = std::string(user);
        authority = authority.substr(at + 1);
    }
    auto hp = parse_authority(authority);
    if (auto* why = std::get_if<std::string>(&hp)) return bad_url(url, *why);
    q.host = std::move(std::get<host_and_port>(hp).host);
    if (const auto port = std::get<host_and_port>(hp).port; port != 0) q.port = port;
    if (!valid_name(stream)) return bad_url(url, "invalid stream name (printable characters, no spaces)");
    q.stream = std::string(stream);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const auto eq = pair.find('=');
        if (eq == std::string_view::npos) return bad_url(url, "'" + std::string(pair) + "' is not name=value");
        const std::string_view name = pair.substr(0, eq), value = pair.substr(eq + 1);
        if (name == "group") {
            if (!valid_name(value)) return bad_url(url, "invalid group name");
            q.group = std::string(value);
        } else if (name == "consumer") {
            if (!valid_name(value)) return bad_url(url, "invalid consumer name");
            q.consumer = std::string(value);
        } else if (name == "db") {
            if (!parse_number(value, q.db) || q.db < 0 || q.db > 1000000) {
                return bad_url(url, "db must be a database number, e.g. db=0");
            }
        } else if (name == "password") {
            return bad_url(url, "a password has no place in the URL (a command line is visible to every user): "
                                "put it in KOORELEASE_REDIS_PASSWORD");
        } else {
            return bad_url(url, "unknown parameter '" + std::string(name) + "' (known: group, consumer, db)");
        }
    }
    return q;
}

entry_decision decide_entry(std::string_view outcome_text, bool retryable, std::uint64_t deliveries,
                            std::uint32_t max_deliveries) {
    if (outcome_text == outcome::released) return {entry_action::finish, outcome::released};
    if (outcome_text == outcome::invalid) return {entry_action::dead_letter, "dead_letter"};
    if (outcome_text == outcome::failed) {
        if (!retryable) return {entry_action::finish, outcome::failed};
        if (deliveries >= max_deliveries) return {entry_action::dead_letter, "dead_letter"};
        return {entry_action::leave, {}};
    }
    // aborted (the worker is stopping), or anything unknown: not final.
    return {entry_action::leave, {}};
}

std::vector<std::string> result_fields(std::string_view instance_id, std::string_view result,
                                       std::string_view reason, std::uint64_t deliveries,
                                       std::string_view entry_id, std::string_view worker,
                                       std::string_view record_json) {
    std::vector<std::string> f;
    f.reserve(14);
    auto add = [&f](std::string_view name, std::string_view value) {
        f.emplace_back(name);
        f.emplace_back(value);
    };
    add("instance_id", instance_id);
    add("outcome", result);
    if (!reason.empty()) add("reason", reason);
    add("deliveries", std::to_string(deliveries));
    add("entry", entry_id);
    add("worker", worker);
    if (!record_json.empty()) {
        // The journal line without its '\n'.
        add("record", record_json.ends_with('\n') ? record_json.substr(0, record_json.size() - 1) : record_json);
    }
    return f;
}

std::string dead_letter_reason(std::uint64_t deliveries, std::string_view last_error) {
    return "delivered " + std::to_string(deliveries) + " times; last error: " + std::string(last_error);
}

std::size_t held_limit(std::uint32_t concurrency, std::uint32_t pipeline, double shared_rate, double rate) {
    const std::size_t room = std::max<std::size_t>(2048, 16ull * concurrency * pipeline);
    const double pace = shared_rate > 0 && rate > 0 ? std::min(shared_rate, rate) : std::max(shared_rate, rate);
    if (!(pace > 0)) return room;
    return std::clamp<std::size_t>(static_cast<std::size_t>(2 * pace), 16, room);
}

bool dead_letter_on_claim(std::uint64_t deliveries, std::uint32_t max_deliveries) {
    return deliveries > max_deliveries;
}

std::uint32_t permit_batch(double shared_rate) {
    if (!(shared_rate > 0)) return 1;
    const double batch = std::floor(shared_rate / 20.0);
    return static_cast<std::uint32_t>(std::clamp(batch, 1.0, 256.0));
}

gcra_grant gcra_take(std::int64_t tat_us, std::int64_t now_us, double rate, std::uint32_t wanted,
                     std::int64_t lookahead_us) {
    // The same operations, in the same order, as gcra_script: the results agree to the bit.
    const double interval = 1000000.0 / rate;
    const double now = static_cast<double>(now_us);
    double start = static_cast<double>(tat_us);
    if (start < now) start = now;
    gcra_grant g;
    if (start - now > static_cast<double>(lookahead_us)) {
        g.tat_us = tat_us;
        g.wait_us = static_cast<std::int64_t>(std::floor(start - now - static_cast<double>(lookahead_us) + 0.5));
        if (g.wait_us < 1) g.wait_us = 1;
        return g;
    }
    g.granted = wanted;
    g.tat_us = static_cast<std::int64_t>(std::floor(start + static_cast<double>(wanted) * interval + 0.5));
    g.first_us = static_cast<std::int64_t>(std::floor(start - now + 0.5));
    return g;
}

slot_pool::slot_pool(double rate, std::uint32_t batch)
    : batch_(batch),
      interval_(std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate)))),
      stale_(std::max<clock::duration>(std::chrono::milliseconds(20), 2 * interval_)) {}

void slot_pool::add(clock::time_point first, std::uint32_t count) {
    if (count == 0) return;
    blocks_.push_back({first, count});
    held_ += count;
}

bool slot_pool::try_take(clock::time_point now) {
    // Drop the slots whose time is more than `stale` past: those before now - stale.
    while (!blocks_.empty()) {
        auto& b = blocks_.front();
        const auto oldest_usable = now - stale_;
        if (b.first < oldest_usable) {
            const auto late = oldest_usable - b.first;
            const auto skip = static_cast<std::uint32_t>(
                std::min<std::uint64_t>(b.count, static_cast<std::uint64_t>((late + interval_ - clock::duration(1)) / interval_)));
            b.count -= skip;
            held_ -= skip;
            b.first += skip * interval_;
        }
        if (b.count > 0) break;
        blocks_.pop_front();
    }
    if (blocks_.empty() || now < blocks_.front().first) return false;
    auto& b = blocks_.front();
    --b.count;
    --held_;
    b.first += interval_;
    if (b.count == 0) blocks_.pop_front();
    return true;
}

std::optional<slot_pool::clock::time_point> slot_pool::next() const {
    if (blocks_.empty()) return std::nullopt;
    return blocks_.front().first;
}

void slot_pool::clear() {
    blocks_.clear();
    held_ = 0;
}

const std::string_view gcra_script = R"lua(
local rate = tonumber(ARGV[1])
local wanted = tonumber(ARGV[2])
local lookahead = tonumber(ARGV[3])
local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local interval = 1000000 / rate
local start = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if start < now then start = now end
if start - now > lookahead then
  local wait = math.floor(start - now - lookahead + 0.5)
  if wait < 1 then wait = 1 end
  return {0, wait}
end
local tat = math.floor(start + wanted * interval + 0.5)
local ttl = math.floor((tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', ttl)
return {wanted, math.floor(start - now + 0.5)}
)lua";

const std::string_view finish_script = R"lua(
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
if ARGV[3] == 'dead' then
  redis.call('XADD', KEYS[3], '*', unpack(fields))
end
redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('HDEL', KEYS[4], ARGV[2])
redis.call('HINCRBY', KEYS[5], ARGV[7], 1)
return 1
)lua";

const std::string_view claim_script = R"lua(
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out = {}
for _, e in ipairs(r[2]) do
  local id = e[1]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  local n = 0
  if p[1] then n = p[1][4] end
  local iid = false
  local f = e[2]
  if type(f) == 'table' then
    for i = 1, #f, 2 do
      if f[i] == 'instance_id' then iid = f[i + 1] end
    end
  end
  out[#out + 1] = {id, n, iid}
end
return {r[1], out}
)lua";

}  // namespace koorelease
