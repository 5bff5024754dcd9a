#include "koorelease/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace koorelease {

std::string write_file_atomically(const std::string& path, std::string_view content) {
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? std::string(".") : path.substr(0, slash + 1);
    const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    std::string temp = dir + (slash == std::string::npos ? "/" : "") + "." + base + ".XXXXXX";
    const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
    if (fd < 0) return "cannot create a temporary file next to '" + path + "': " + std::strerror(errno);
    std::size_t done = 0;
    std::string error;
    while (done < content.size()) {
        const auto n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            error = std::strerror(errno);
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    // Readable by others, like the journal (mkstemp creates 0600).
    if (error.empty() && ::fchmod(fd, 0644) != 0) error = std::strerror(errno);
    if (error.empty() && ::fdatasync(fd) != 0 && errno != EINVAL) error = std::strerror(errno);
    if (::close(fd) != 0 && error.empty()) error = std::strerror(errno);
    if (error.empty() && ::rename(temp.c_str(), path.c_str()) != 0) error = std::strerror(errno);
    if (!error.empty()) {
        ::unlink(temp.c_str());
        return "cannot write '" + path + "': " + error;
    }
    return {};
}

}  // namespace koorelease
