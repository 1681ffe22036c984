// Counter-based random numbers: every draw is a pure function of (seed, stream, a, b, index),
// so draws do not depend on order or thread count. Twin: python/mlpcore/reference/rng.py.
//   key(seed, stream, a, b) = mix(mix(mix(mix(seed + G) + G(stream+1)) + G(a+1)) + G(b+1))
//   bits(key, i)            = mix(key + G(i+1))          (SplitMix64's output function)
#pragma once
#include <cstdint>
#include <vector>

namespace mlpcore::rng {

constexpr std::uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t STREAM_SHUFFLE = 1;
constexpr std::uint64_t STREAM_DROPOUT = 2;

inline std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline std::uint64_t key(std::uint64_t seed, std::uint64_t stream, std::uint64_t a,
                         std::uint64_t b) {
  std::uint64_t k = mix(seed + GOLDEN);
  k = mix(k + GOLDEN * (stream + 1));
  k = mix(k + GOLDEN * (a + 1));
  return mix(k + GOLDEN * (b + 1));
}

inline std::uint64_t bits(std::uint64_t k, std::uint64_t i) {
  return mix(k + GOLDEN * (i + 1));
}

// Element i is kept when (bits >> 11) >= keep_threshold(p): probability 1 - p.
inline std::uint64_t keep_threshold(double p) {
  return static_cast<std::uint64_t>(p * 9007199254740992.0);  // p * 2^53
}

// The epoch's shuffle: indices 0..n-1 sorted by their random key, ties by index.
// order is (n,); keys is scratch of (n,).
void permutation(std::int64_t* order, std::uint64_t* keys, std::uint64_t seed, std::uint64_t epoch,
                 std::int64_t n);

}  // namespace mlpcore::rng
