#include "mlpcore/rng.hpp"

#include <algorithm>

namespace mlpcore::rng {

void permutation(std::int64_t* order, std::uint64_t* keys, std::uint64_t seed,
                 std::uint64_t epoch, std::int64_t n) {
  const std::uint64_t k = key(seed, STREAM_SHUFFLE, epoch, 0);
  for (std::int64_t i = 0; i < n; ++i) {
    order[i] = i;
    keys[i] = bits(k, static_cast<std::uint64_t>(i));
  }
  std::sort(order, order + n, [keys](std::int64_t a, std::int64_t b) {
    return keys[a] < keys[b] || (keys[a] == keys[b] && a < b);
  });
}

}  // namespace mlpcore::rng
