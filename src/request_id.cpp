#include "koorelease/request_id.hpp"

#include <boost/uuid/uuid_io.hpp>

namespace koorelease {

request_id request_id_generator::next() {
    request_id out;
    boost::uuids::to_chars(generator_(), out.data(), out.data() + out.size());
    return out;
}

}  // namespace koorelease
