// The core's own thread pool. The bundled OpenBLAS always runs on one thread; the core splits
// its big products (blas.cpp) and its row blocks (network.cpp) into independent tasks and
// runs them here. Tasks are claimed one at a time from a shared counter, and the calling
// thread claims them too: when the machine is busy and a worker is not scheduled, the caller
// does the work itself instead of waiting (OpenBLAS's spinning pool waits). Idle workers spin
// briefly, then sleep on a condition variable.
#pragma once

namespace mlpcore::parallel {

// Runs task(context, i) for every i in [0, n), on the calling thread and on up to
// num_threads() - 1 workers, and returns when every task is done. The first exception a
// task throws is rethrown here after the others finished. A call made while the pool is
// busy (a task that calls run, or another thread's call) runs its tasks on its own thread.
void run(int n, void (*task)(void* context, int i), void* context);

template <typename F>
void run(int n, F& f) {
  run(n, [](void* c, int i) { (*static_cast<F*>(c))(i); }, &f);
}

// The number of threads run may use, the caller included (>= 1). The first call reads
// MLPCORE_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs this process may run on.
int num_threads();
void set_num_threads(int n);  // 1 <= n <= MAX_THREADS, else std::invalid_argument
constexpr int MAX_THREADS = 256;

}  // namespace mlpcore::parallel
