// Runtime dispatch for the hot elementwise loops. The wheel is compiled for baseline x86-64
// (SSE2); a function marked MLPCORE_SIMD_CLONES is compiled three times with GCC on x86-64 --
// for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and the baseline -- and the loader picks
// one per CPU at run time (an ifunc). Elsewhere (other compilers, other targets) it is
// compiled once, for the target.
//
// Mark whole loops (a kernel over n elements), never a per-element helper: a cloned function
// is called through the dispatcher and cannot be inlined.
// A cloned function must not throw: with GCC 12 (LTO) an exception leaving one ends the
// process (std::terminate). Check arguments in a plain wrapper that calls the clones.
//
// Floating point: the v3/v4 clones have FMA, and GCC would contract a * b + c into one fused
// multiply-add; CMakeLists.txt compiles the core with -ffp-contract=off, and GCC reorders no
// floating-point sum without -ffast-math, so every clone computes bitwise what the baseline
// does (checked on fits of every layer kind, loss and optimizer with -DMLPCORE_NO_CLONES).
#pragma once

// -DMLPCORE_NO_CLONES builds the baseline only (to compare results against the clones).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(MLPCORE_NO_CLONES)
#define MLPCORE_SIMD_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MLPCORE_SIMD_CLONES
#endif
