// The floating-point mode the engine computes in. Subnormal numbers (below 1.2e-38 in
// float32, 2.2e-308 in float64) are flushed to zero, as inputs and as results: on x86 an
// operation that meets one takes a microcode assist of ~100 cycles, and a trained classifier
// makes many (softmax probabilities of the classes it rules out, and the deltas p - y they
// feed into every backward product): a 32-64-64-2 net slowed from 16 to 57 us per step over
// 60 epochs. TensorFlow and XLA flush on CPU too. Flushing changes a result only where a value
// falls below those magnitudes; set_flush_denormals(false) keeps IEEE gradual underflow.
//
// The mode is the calling thread's (MXCSR on x86, FPCR on AArch64): EngineFpMode sets it for
// an engine call and gives the caller's back after it; the pool's workers take the mode of
// the thread whose job they join, so every thread count computes in one mode.
#pragma once

namespace mlpcore {

void set_flush_denormals(bool on);  // the setting new engine calls read (default true)
bool flush_denormals();

using FpState = unsigned long;  // a thread's floating-point control word
FpState fp_state();             // the calling thread's
void set_fp_state(FpState s);   // the calling thread's; a no-op on other architectures

// For the life of the object the calling thread computes in the engine's mode; the mode it
// had comes back at the end.
class EngineFpMode {
 public:
  EngineFpMode();
  ~EngineFpMode();
  EngineFpMode(const EngineFpMode&) = delete;
  EngineFpMode& operator=(const EngineFpMode&) = delete;

 private:
  friend class CallerFpMode;
  FpState caller_;
  const EngineFpMode* outer_;  // the thread's enclosing one, if any
};

// Inside an engine call, code that runs Python (a signal handler) has the caller's mode for
// the life of the object (outside one, it changes nothing).
class CallerFpMode {
 public:
  CallerFpMode();
  ~CallerFpMode() { set_fp_state(engine_); }
  CallerFpMode(const CallerFpMode&) = delete;
  CallerFpMode& operator=(const CallerFpMode&) = delete;

 private:
  FpState engine_;
};

}  // namespace mlpcore
