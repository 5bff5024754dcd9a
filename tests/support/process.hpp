#pragma once
// Child processes for the integration tests: the real koorelease binary, started with
// posix_spawn, waited for with a deadline (pidfd + poll: no sleeping), killed if it hangs.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace koorelease::test {

struct spawn_options {
    std::string program;                        // path of the program; empty: the koorelease binary
    std::vector<std::string> args;              // argv[1..]
    std::map<std::string, std::string> env;     // added to (or replacing in) the environment
    std::vector<std::string> unset_env;         // removed from the environment
    std::string stdin_file;                     // empty: /dev/null
    std::string stdout_file;                    // empty: a pipe, read with read_line()
    std::string stderr_file;                    // empty: /dev/null
};

class child {
public:
    explicit child(const spawn_options& options);
    ~child();  // kills the process if it still runs
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    pid_t pid() const { return pid_; }
    // Reads one line from the stdout pipe; nullopt on end of file or when the deadline passes.
    std::optional<std::string> read_line(std::chrono::milliseconds deadline);
    // Waits for the exit; the exit code, 128+signal if killed by one, nullopt past the deadline.
    std::optional<int> wait(std::chrono::milliseconds deadline);
    void signal(int sig);

private:
    pid_t pid_ = -1;
    int pidfd_ = -1;
    int stdout_pipe_ = -1;
    std::string pending_;
    std::optional<int> status_;
};

// Waits until the file at `path` holds at least `lines` complete lines, watching it with
// inotify (no sleeping); false when the deadline passes first.
bool wait_for_lines(const std::string& path, std::size_t lines, std::chrono::milliseconds deadline);

// The whole content of a file ("" if missing).
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);
// The lines of a file, without their '\n'.
std::vector<std::string> read_lines(const std::string& path);

// A fresh directory under $TMPDIR (or /tmp), removed with its content at destruction.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

}  // namespace koorelease::test
