#include "mlpcore/rng.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace mlpcore::rng {

// The indices 0..n-1 sorted by (bits(k, i), i), as np.argsort(bits, kind="stable") does, in
// linear time: a stable LSD radix sort on the top 32 bits of each key (three passes of 11
// bits), then the rare runs of equal top bits sorted by the full key and the index.
void permutation(std::int64_t* order, std::uint64_t* keys, std::uint64_t seed, std::uint64_t epoch,
                 std::int64_t n) {
  const std::uint64_t k = key(seed, STREAM_SHUFFLE, epoch, 0);
  std::vector<std::uint32_t> hi(n), hi_tmp(n);  // (n,) top 32 bits of each key
  std::vector<std::int64_t> tmp(n);             // (n,) scratch indices
  for (std::int64_t i = 0; i < n; ++i) {
    order[i] = i;
    keys[i] = bits(k, static_cast<std::uint64_t>(i));
    hi[i] = static_cast<std::uint32_t>(keys[i] >> 32);
  }
  constexpr int DIGIT = 11, BUCKETS = 1 << DIGIT;
  std::vector<std::int64_t> count(BUCKETS);
  std::uint32_t* src_key = hi.data();
  std::uint32_t* dst_key = hi_tmp.data();
  std::int64_t* src = order;
  std::int64_t* dst = tmp.data();
  for (int shift = 0; shift < 32; shift += DIGIT) {
    std::fill(count.begin(), count.end(), 0);
    for (std::int64_t i = 0; i < n; ++i) ++count[(src_key[i] >> shift) & (BUCKETS - 1)];
    std::int64_t sum = 0;
    for (std::int64_t& c : count) {
      const std::int64_t c0 = c;
      c = sum;
      sum += c0;
    }
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t pos = count[(src_key[i] >> shift) & (BUCKETS - 1)]++;
      dst_key[pos] = src_key[i];
      dst[pos] = src[i];
    }
    std::swap(src_key, dst_key);
    std::swap(src, dst);
  }
  if (src != order) std::memcpy(order, src, sizeof(std::int64_t) * std::size_t(n));
  // runs of equal top bits: order by the full key, then the index (stable order kept them by
  // index already, so only unequal full keys move)
  for (std::int64_t a = 0; a < n;) {
    std::int64_t b = a + 1;
    while (b < n && src_key[b] == src_key[a]) ++b;
    if (b - a > 1)
      std::sort(order + a, order + b, [keys](std::int64_t x, std::int64_t y) {
        return keys[x] < keys[y] || (keys[x] == keys[y] && x < y);
      });
    a = b;
  }
}

}  // namespace mlpcore::rng
