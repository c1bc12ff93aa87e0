// The launch environment (torchrun's variables) and the process-wide group.
#include <edgeopt/distributed.h>
#include <edgeopt/error.h>

#include <cerrno>
#include <cstdlib>

namespace edgeopt::dist {
namespace {

std::unique_ptr<ProcessGroup>& worldSlot() {
  static std::unique_ptr<ProcessGroup> group;
  return group;
}

// The integer in environment variable `name`, within [low, high].
std::optional<long> envInt(const char* name, long low, long high) {
  const char* text = std::getenv(name);
  if (!text) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (!*text || *end || errno || value < low || value > high)
    throw UsageError(std::string("environment variable ") + name + "='" + text + "' must be an integer in [" +
                     std::to_string(low) + ", " + std::to_string(high) + "]");
  return value;
}

}  // namespace

std::optional<LaunchInfo> LaunchInfo::fromEnvironment() {
  const auto world_size = envInt("WORLD_SIZE", 1, 1 << 20);
  if (!world_size) {
    if (std::getenv("RANK"))
      throw UsageError("RANK is set but WORLD_SIZE is not: set both (and MASTER_ADDR, MASTER_PORT), as torchrun does");
    return std::nullopt;
  }
  LaunchInfo info;
  info.world_size = static_cast<int>(*world_size);
  const auto rank = envInt("RANK", 0, *world_size - 1);
  if (!rank) throw UsageError("WORLD_SIZE is set but RANK is not: set RANK to this process's rank in [0, WORLD_SIZE)");
  info.rank = static_cast<int>(*rank);
  info.local_rank = static_cast<int>(envInt("LOCAL_RANK", 0, *world_size - 1).value_or(*rank));
  info.local_world_size = static_cast<int>(envInt("LOCAL_WORLD_SIZE", 1, *world_size).value_or(*world_size));
  if (info.world_size == 1) return info;
  const char* addr = std::getenv("MASTER_ADDR");
  if (!addr || !*addr) throw UsageError("WORLD_SIZE > 1 needs MASTER_ADDR (the host of rank 0), as torchrun sets it");
  info.master_addr = addr;
  const auto port = envInt("MASTER_PORT", 1, 65535);
  if (!port) throw UsageError("WORLD_SIZE > 1 needs MASTER_PORT (a free TCP port on MASTER_ADDR)");
  info.master_port = static_cast<int>(*port);
  return info;
}

std::chrono::milliseconds timeoutFromEnvironment() {
  const long seconds = envInt("EDGEOPT_DIST_TIMEOUT", 1, 7 * 24 * 3600).value_or(1800);
  return std::chrono::milliseconds(seconds * 1000);
}

ProcessGroup* world() { return worldSlot().get(); }
void setWorld(std::unique_ptr<ProcessGroup> group) { worldSlot() = std::move(group); }
int rank() { return world() ? world()->rank() : 0; }
int worldSize() { return world() ? world()->size() : 1; }
bool isMainProcess() { return rank() == 0; }

}  // namespace edgeopt::dist
