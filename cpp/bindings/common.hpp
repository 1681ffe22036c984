// Helpers shared by the bind_*.cpp files: checking arrays at the boundary and making
// results. No maths here.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mlpcore/finite.hpp"
#include "mlpcore/fp_mode.hpp"

namespace mlpcore::bind {

namespace py = pybind11;

// ---- calls that run without the GIL, and interpreter exit ---------------------------------
// A thread that comes back from a GIL-free call after the interpreter began finalizing is
// stopped by Python inside gil_scoped_release's (noexcept) destructor: the process aborts
// ("terminate called without an active exception"), or static destructors run under a
// thread still computing. So every GIL-free call is counted, and mlpcore._core._shutdown
// (an atexit hook, which runs before finalization) sets `exiting`, which refuses new calls
// and stops those under way at their next poll (between row blocks or training steps), then
// waits, without the GIL, until every call has returned to Python.
inline std::atomic<bool> exiting{false};
inline std::atomic<long> calls_in_flight{0};

// Parks the calling thread until the process ends, without the GIL: what Python itself does
// to a daemon thread that wants the GIL during finalization.
[[noreturn]] inline void park_until_exit() {
  PyEval_SaveThread();
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

// With the GIL: whether the calling thread is a daemon thread (False if that cannot be told).
inline bool in_daemon_thread() {
  try {
    return py::module_::import("threading").attr("current_thread")().attr("daemon").cast<bool>();
  } catch (const py::error_already_set&) {
    return false;
  }
}

// Counts the call from construction (with the GIL) until after the GIL is taken back. Once
// exit began, a new call is refused with RuntimeError, except on a daemon thread: that
// thread would only print its traceback into the interpreter's teardown ("Exception in
// thread ..." cut off mid-line), so it is parked like one that comes back from a call.
class CallGate {
 public:
  CallGate() {
    if (exiting.load()) {
      if (in_daemon_thread()) park_until_exit();
      throw std::runtime_error("mlpcore: the interpreter is exiting; no new engine calls");
    }
    calls_in_flight.fetch_add(1);
  }
  ~CallGate() { calls_in_flight.fetch_sub(1); }
  CallGate(const CallGate&) = delete;
  CallGate& operator=(const CallGate&) = delete;
};

// Use instead of py::gil_scoped_release around compute: the gate is entered first and left
// last (members are destroyed in reverse order), so the call counts until the GIL is back.
// Without the GIL the thread computes in the engine's floating-point mode (fp_mode.hpp); the
// caller's comes back before Python runs again.
// A call that comes back once the interpreter is exiting never takes the GIL back: its thread
// (a daemon thread: the others were joined before atexit) sleeps until the process ends, as
// Python itself parks daemon threads that want the GIL during finalization.
class WithoutGil {
 public:
  WithoutGil() = default;
  ~WithoutGil() {
    if (!exiting.load()) return;
    calls_in_flight.fetch_sub(1);
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));  // (the GIL is not held here)
  }
  WithoutGil(const WithoutGil&) = delete;
  WithoutGil& operator=(const WithoutGil&) = delete;

 private:
  CallGate gate_;
  py::gil_scoped_release release_;
  EngineFpMode fp_mode_;
};

// Inside a GIL-free call: the GIL and the caller's floating-point mode, for code that runs
// Python (a signal handler polled between steps).
class WithGil {
 public:
  WithGil() = default;
  WithGil(const WithGil&) = delete;
  WithGil& operator=(const WithGil&) = delete;

 private:
  py::gil_scoped_acquire gil_;
  CallerFpMode fp_mode_;
};

// A C-contiguous array of T: other dtypes and layouts are converted by pybind11 (forcecast).
template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

// pybind11 lets a misaligned C-contiguous array of the right dtype through unconverted;
// loops over it would be undefined behaviour. Such arrays are copied; others pass as they are.
template <typename T>
Array<T> aligned(const Array<T>& a) {
  if (a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_) return a;
  Array<T> copy(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
  std::memcpy(copy.mutable_data(), a.data(), size_t(a.nbytes()));
  return copy;
}

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// Checks a is 2-D with `cols` columns (any if cols < 0) and rows in [1, INT_MAX]; returns rows.
template <typename T>
int rows_of(const Array<T>& a, const char* name, long cols) {
  if (a.ndim() != 2)
    throw std::invalid_argument(std::string(name) + " must be 2-D, got shape " + shape_str(a));
  if (cols >= 0 && a.shape(1) != cols)
    throw std::invalid_argument(std::string(name) + " must have " + std::to_string(cols) +
                                " columns, got shape " + shape_str(a));
  if (a.shape(0) < 1 || a.shape(0) > INT_MAX || a.shape(1) > INT_MAX)
    throw std::invalid_argument(std::string(name) + " has an unsupported shape " + shape_str(a) +
                                " (rows must lie in [1, " + std::to_string(INT_MAX) + "])");
  return static_cast<int>(a.shape(0));
}

// Throws ValueError naming the first non-finite element of the 2-D array a, like the Python
// checks (_checks.py) do.
template <typename T>
void require_finite(const Array<T>& a, const char* name) {
  const T* p = a.data();
  const std::size_t n = std::size_t(a.size());
  if (all_finite(p, n)) return;
  for (std::size_t i = 0; i < n; ++i)
    if (!((p[i] - p[i]) == T(0))) {
      const std::size_t cols = std::size_t(a.shape(1));
      throw std::invalid_argument(
          std::string(name) + " contains NaN or infinity (first at index (" +
          std::to_string(i / cols) + ", " + std::to_string(i % cols) + "))");
    }
}

template <typename T>
void check_size(const Array<T>& a, const char* name, py::ssize_t size) {
  if (a.ndim() != 1 || a.shape(0) != size)
    throw std::invalid_argument(std::string(name) + " must have shape (" + std::to_string(size) +
                                ",), got " + shape_str(a));
}

}  // namespace mlpcore::bind
