// The CPU's model name and the vector extensions that matter to the benchmarks, from
// /proc/cpuinfo: the line the standalone C++ benchmarks of bench/ print first.
#pragma once
#include <fstream>
#include <string>

inline std::string cpu_description() {
  std::ifstream f("/proc/cpuinfo");
  std::string line, model = "unknown CPU", flags;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0 && model == "unknown CPU")
      model = line.substr(line.find(':') + 2);
    else if (line.rfind("flags", 0) == 0 && flags.empty())
      flags = line + " ";
  }
  std::string isa;
  for (const char* name : {"avx2", "avx512f", "avx512_vnni", "amx_tile"})
    if (flags.find(std::string(" ") + name + " ") != std::string::npos)
      isa += std::string(" ") + name;
  return model + ";" + (isa.empty() ? " no AVX2" : isa);
}
