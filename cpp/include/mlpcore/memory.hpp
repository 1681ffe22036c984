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

// An allocator of 64-byte aligned storage: a buffer's cache lines then start where its values
// do, so two threads writing neighbouring blocks of it (the pieces of a step cut by neurons,
// neuron_cut.cpp) share no line when their blocks are multiples of 16 floats.
template <typename T>
struct LineAligned {
  using value_type = T;
  static constexpr std::align_val_t ALIGN{64};
  LineAligned() = default;
  template <typename U>
  LineAligned(const LineAligned<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), ALIGN)); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, ALIGN); }
  template <typename U>
  bool operator==(const LineAligned<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const LineAligned<U>&) const {
    return false;
  }
};
template <typename T>
using AlignedVector = std::vector<T, LineAligned<T>>;

// a = n copies of value, after check_available for large ones; std::bad_alloc and std::length_error
// become OutOfMemory naming `what`.
template <typename T, typename A>
void allocate(std::vector<T, A>& a, std::size_t n, T value, const std::string& what) {
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
