#pragma once
// A fresh random UUID (version 4, RFC 9562) for the x-request-id of every attempt, from
// Boost.Uuid's generator over a Mersenne Twister seeded from the operating system's
// random source: unique across runs and machines, and cheap per request.
#include <boost/uuid/random_generator.hpp>

#include "koorelease/request.hpp"

namespace koorelease {

class request_id_generator {
public:
    request_id next();

private:
    boost::uuids::random_generator_mt19937 generator_;
};

}  // namespace koorelease
