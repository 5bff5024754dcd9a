#pragma once
// What `release --queue`, `enqueue` and `queue status` share: the --queue URL and the password.
#include <string>

#include "koorelease/queue.hpp"
#include "redis/connection.hpp"

namespace koorelease::cli {

// The --queue URL, or a usage error (exit 2) that says what a correct one looks like.
queue_address queue_option(const std::string& url);
// KOORELEASE_REDIS_PASSWORD, or "" (no AUTH).
std::string redis_password();
redis::target redis_target(const queue_address& q);

}  // namespace koorelease::cli
