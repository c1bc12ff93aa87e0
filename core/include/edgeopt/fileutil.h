#pragma once
// File helpers shared by every writer: outputs are written to a temporary file
// in the same folder and renamed into place, so a crash never leaves a
// half-written file under the final name.
#include <functional>
#include <ostream>
#include <string>

namespace edgeopt {

// Writes `bytes` to `path` atomically (temp file + fsync + rename).
void atomicWrite(const std::string& path, const std::string& bytes);
// Calls `writer` with a stream on a temporary file, then renames it to `path`.
// If `writer` throws, the temporary is removed and `path` is untouched.
void atomicWrite(const std::string& path, const std::function<void(std::ostream&)>& writer);
// Whether `filename` is a temporary a writer killed mid-write left behind:
// "<name>.tmp-<pid>-<hex>" (atomicWrite), "<name>.tmp-<pid>" (TorchScript
// export), "<name>.tmp" (optimizer state). Nothing else in a run directory has
// these names, so a finished run removes them.
bool isLeftoverTemporary(const std::string& filename);
// Whether the relative path `relative` stays inside the folder it is relative
// to: not absolute, and no ".." that climbs out ("a/../b" does not, "../b"
// does). Output-file options check it so a run writes only inside its directory.
bool staysInside(const std::string& relative);
// Whole file as a string; InputError naming the file when it can't be read.
std::string readFile(const std::string& path);
// Lower-case hex SHA-256 of a file's contents.
std::string sha256File(const std::string& path);
std::string sha256(const std::string& bytes);

}  // namespace edgeopt
