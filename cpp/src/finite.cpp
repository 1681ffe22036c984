#include "mlpcore/finite.hpp"

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "mlpcore/simd.hpp"

namespace mlpcore {

// A float is NaN or infinite exactly when its exponent bits are all ones. The test runs on
// the bits as integers, whose OR-reduction vectorises (a floating-point one would not).
template <typename T>
MLPCORE_SIMD_CLONES bool all_finite(const T* p, std::size_t n) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  const Bits exponent = sizeof(T) == 4 ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
  Bits bad = 0;  // bit 0 set once an element has every exponent bit set
  for (std::size_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, p + i, sizeof b);
    bad |= Bits((b & exponent) == exponent);
  }
  return bad == 0;
}

template bool all_finite<float>(const float*, std::size_t);
template bool all_finite<double>(const double*, std::size_t);

}  // namespace mlpcore
