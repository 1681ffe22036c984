#include "mlpcore/memory.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace mlpcore {

std::size_t available_bytes() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return SIZE_MAX;
  char line[256];
  std::size_t kib = 0;
  bool found = false;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %zu kB", &kib) == 1) {
      found = true;
      break;
    }
  std::fclose(f);
  return found ? kib * 1024 : SIZE_MAX;
}

void check_available(std::size_t bytes, const std::string& what) {
  const std::size_t avail = available_bytes();
  if (bytes <= avail) return;
  char gib[64];
  std::snprintf(gib, sizeof gib, "%.1f GiB", double(bytes) / double(1ull << 30));
  char have[64];
  std::snprintf(have, sizeof have, "%.1f GiB", double(avail) / double(1ull << 30));
  throw OutOfMemory("not enough memory for " + what + ": " + std::to_string(bytes) + " bytes (" +
                    gib + ") needed, the machine has " + have + " available");
}

}  // namespace mlpcore
