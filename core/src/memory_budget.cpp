// The memory budget readers check declared sizes against (memory_budget.h).
#include <edgeopt/memory_budget.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace edgeopt {
namespace {

// Decimal digits as a count; nullopt for anything else ("max", "-1", "") or past 2^63.
std::optional<uint64_t> parseCount(const std::string& text) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(text);
}

// The number after `key` in a file of words (/proc/self/status), or its first word (memory.max).
std::optional<uint64_t> readCount(const std::string& path, const std::string& key = "") {
  std::ifstream in(path);
  std::string word;
  while (in >> word)
    if (key.empty())
      return parseCount(word);
    else if (word == key && in >> word)
      return parseCount(word);
  return std::nullopt;
}

}  // namespace

uint64_t availableMemoryBytes() {
  uint64_t bytes = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGE_SIZE));
  for (const char* cgroup : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"})
    if (auto limit = readCount(cgroup)) bytes = std::min(bytes, *limit);
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    const uint64_t used = readCount("/proc/self/status", "VmSize:").value_or(0) * 1024;  // kB
    bytes = std::min<uint64_t>(bytes, as.rlim_cur > used ? as.rlim_cur - used : 0);
  }
  if (const char* mb = std::getenv("EDGEOPT_MEMORY_LIMIT_MB"))
    if (auto limit = parseCount(mb); limit && *limit < (uint64_t{1} << 44)) bytes = std::min(bytes, *limit << 20);
  return bytes;
}

}  // namespace edgeopt
