#pragma once
// Replacing a small file (metrics, the run summary) so that a reader sees the old file or the
// whole new one, never half of it.
#include <string>
#include <string_view>

namespace koorelease {

// Replaces the file at `path` with `content` atomically: written to a hidden temporary file in
// the same directory (".<name>.XXXXXX": a textfile collector ignores it), made readable by
// others (0644), synced, then renamed over `path`. Returns "" or what went wrong, naming the file.
std::string write_file_atomically(const std::string& path, std::string_view content);

}  // namespace koorelease
