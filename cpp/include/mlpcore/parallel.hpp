// The core's own thread pool. The bundled OpenBLAS always runs on one thread; the core splits
// its big products (blas.cpp) and its row blocks (network.cpp) into independent tasks and
// runs them here. Tasks are claimed one at a time from a shared counter, and the calling
// thread claims them too: when the machine is busy and a worker is not scheduled, the caller
// does the work itself instead of waiting (OpenBLAS's spinning pool waits). Idle workers spin
// briefly, then sleep on a condition variable.
#pragma once

#include <cstdint>

namespace mlpcore::parallel {

// Runs task(context, i) for every i in [0, n), on the calling thread and on up to
// num_threads() - 1 workers, and returns when every task is done. The first exception a
// task throws is rethrown here after the others finished. A call made while the pool is
// busy (a task that calls run, or another thread's call) runs its tasks on its own thread.
// A worker takes the last unclaimed task only within late_ns of the call (pass about half a
// task's expected time): after that the caller, about to be free, does it.
void run(int n, void (*task)(void* context, int i), void* context,
         std::int64_t late_ns = INT64_MAX);

template <typename F>
void run(int n, F& f, std::int64_t late_ns = INT64_MAX) {
  run(n, [](void* c, int i) { (*static_cast<F*>(c))(i); }, &f, late_ns);
}

// The late_ns for tasks of `flops` floating-point operations each: about half a task's time
// at twice the one-core rates measured here (~200 GFLOP/s), 400 per ns.
inline std::int64_t late_ns_for_flops(double flops) {
  return std::int64_t(flops / 400);
}

// Whether the calling thread is running a task of run (then a product inside it should not
// be cut again: its panels would only run one after another).
bool in_task();

// The number of threads run may use, the caller included (>= 1). The first call reads
// MLPCORE_NUM_THREADS, else OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs this
// process may run on.
int num_threads();
void set_num_threads(int n);  // 1 <= n <= MAX_THREADS, else std::invalid_argument
constexpr int MAX_THREADS = 256;

}  // namespace mlpcore::parallel
