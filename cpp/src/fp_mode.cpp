// The engine's floating-point mode (fp_mode.hpp): flush-to-zero and denormals-are-zero.
#include "mlpcore/fp_mode.hpp"

#include <atomic>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace mlpcore {

namespace {
std::atomic<bool> flushing{true};
thread_local const EngineFpMode* innermost = nullptr;  // this thread's, while one lives

#if defined(__x86_64__) || defined(__i386__)
constexpr FpState FLUSH_BITS = 0x8040;  // MXCSR: FTZ (bit 15) | DAZ (bit 6)
#elif defined(__aarch64__)
constexpr FpState FLUSH_BITS = 1ul << 24;  // FPCR.FZ
#else
constexpr FpState FLUSH_BITS = 0;
#endif
}  // namespace

void set_flush_denormals(bool on) {
  flushing.store(on);
}
bool flush_denormals() {
  return flushing.load();
}

FpState fp_state() {
#if defined(__x86_64__) || defined(__i386__)
  return _mm_getcsr();
#elif defined(__aarch64__)
  FpState s;
  asm volatile("mrs %0, fpcr" : "=r"(s));
  return s;
#else
  return 0;
#endif
}

void set_fp_state(FpState s) {
#if defined(__x86_64__) || defined(__i386__)
  if (_mm_getcsr() != s) _mm_setcsr(static_cast<unsigned>(s));
#elif defined(__aarch64__)
  if (fp_state() != s) asm volatile("msr fpcr, %0" : : "r"(s));
#else
  (void)s;
#endif
}

EngineFpMode::EngineFpMode() : caller_(fp_state()), outer_(innermost) {
  set_fp_state(flushing.load() ? caller_ | FLUSH_BITS : caller_ & ~FLUSH_BITS);
  innermost = this;
}

EngineFpMode::~EngineFpMode() {
  innermost = outer_;
  set_fp_state(caller_);
}

CallerFpMode::CallerFpMode() : engine_(fp_state()) {
  const EngineFpMode* e = innermost;
  while (e && e->outer_) e = e->outer_;  // the mode the outermost call found
  if (e) set_fp_state(e->caller_);
}

}  // namespace mlpcore
