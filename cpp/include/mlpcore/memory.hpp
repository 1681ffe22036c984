// Allocation with a clear failure: before a large buffer is filled, the bytes it needs are
// checked against what the machine can still give (MemAvailable on Linux), so an oversized
// model raises OutOfMemory (MemoryError in Python) naming what needed the memory, instead of
// being ended by the kernel's OOM killer once the pages are touched.
#pragma once
#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace mlpcore {

struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Bytes the machine can still give, or SIZE_MAX when unknown.
std::size_t available_bytes();

// Throws OutOfMemory("not enough memory for <what>: N bytes (x GiB) needed, y GiB available") when
// `bytes` exceeds available_bytes().
void check_available(std::size_t bytes, const std::string& what);

// Allocations above this many bytes are checked against available_bytes() first (reading
// /proc/meminfo costs microseconds: small buffers, e.g. one-row predictions, skip it).
constexpr std::size_t LARGE_ALLOCATION = std::size_t(64) << 20;

// a = n copies of value, after check_available for large ones; std::bad_alloc and std::length_error
// become OutOfMemory naming `what`.
template <typename T>
void allocate(std::vector<T>& a, std::size_t n, T value, const std::string& what) {
  if (n > a.max_size() / 2)
    throw OutOfMemory("not enough memory for " + what + ": " + std::to_string(n) +
                      " values are more than any buffer can hold");
  // assign() beyond the capacity allocates a new buffer of all n values before it frees the old
  const std::size_t grow = n > a.capacity() ? n * sizeof(T) : 0;
  if (grow > LARGE_ALLOCATION) check_available(grow, what);
  try {
    a.assign(n, value);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory("not enough memory for " + what + ": " + std::to_string(n * sizeof(T)) +
                      " bytes could not be allocated");
  }
}

}  // namespace mlpcore
