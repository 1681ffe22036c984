// The NaN/infinity scan of inputs at the boundary (bindings/common.hpp's require_finite).
#pragma once
#include <cstddef>

namespace mlpcore {

// Whether every element of p (n,) is finite (neither NaN nor +-inf). One vectorised pass
// over the exponent bits (no early exit: inputs are almost always finite).
template <typename T>
bool all_finite(const T* p, std::size_t n);

}  // namespace mlpcore
