#pragma once
// Test fixtures a Python script makes at test time with Debian's python3 (the
// one with python3-torch/torchvision; EDGEOPT_SYSTEM_PYTHON), run as
//   python3 -B SCRIPT OUT_DIR
// once per version of the script and of the files it imports (`also_hashed`),
// cached by their hashes in OUT_DIR/script.sha256. -B: no __pycache__ in the
// source tree.
#include <edgeopt/fileutil.h>

#include "test_support.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace edgeopt::test {

inline std::string pythonFixtureDir(const std::string& script, const std::string& out_dir,
                                    const std::vector<std::string>& also_hashed = {}) {
  namespace fs = std::filesystem;
  const fs::path out(out_dir);
  const std::string stamp = (out / "script.sha256").string();
  std::string hash = sha256File(script);
  for (const auto& file : also_hashed) hash += " " + sha256File(file);
  // ctest runs test cases in parallel processes: one generates, the others wait.
  fs::create_directories(out.parent_path());
  const int lock = ::open((out.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
  if (lock >= 0) ::flock(lock, LOCK_EX);
  struct Unlock {
    int fd;
    ~Unlock() {
      if (fd >= 0) ::close(fd);  // releases the lock
    }
  } unlock{lock};
  if (fs::exists(stamp) && readText(stamp) == hash) return out.string();
  fs::remove_all(out);
  fs::create_directories(out);
  const std::string log = (out / "python.log").string();
  const std::string cmd =
      std::string(EDGEOPT_SYSTEM_PYTHON) + " -B '" + script + "' '" + out.string() + "' > '" + log + "' 2>&1";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("fixture script failed (" + cmd + "):\n" + readText(log));
  writeText(stamp, hash);
  return out.string();
}

}  // namespace edgeopt::test
