// The thread pool of parallel.hpp.
//
// One job at a time: the caller publishes (task, context, n), bumps `state` to an odd value
// (open), wakes sleeping workers, and claims tasks from `next` like every worker. When all n
// are done it closes the job (state even) and waits until no worker is inside it any more,
// so a late worker can never run a task of a job that has returned. A worker enters a job by
// incrementing `inside` and only then reading `state` (all sequentially consistent): if it
// read the job open, the caller's later read of `inside` sees it.
//
// On a machine whose cores other processes keep busy, a worker may be scheduled late or be
// descheduled inside a task, and the caller would wait for it. Three defences: a worker that
// arrives late does not take the last task (claim); the caller judges every job and, after a
// stall or after several jobs the workers missed, runs jobs alone for a while (run); and
// the tasks are cut independently of who runs them, so results never depend on timing.
#include "mlpcore/parallel.hpp"

#include "mlpcore/fp_mode.hpp"

#include <pthread.h>
#include <signal.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace mlpcore::parallel {

namespace {

thread_local int task_depth = 0;  // > 0 while this thread runs a task of run
struct InTask {
  InTask() { ++task_depth; }
  ~InTask() { --task_depth; }
};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How long an idle worker spins for the next job before it sleeps: long enough to span the
// gap between the products of one training step, short enough not to burn a shared core.
constexpr auto SPIN = std::chrono::microseconds(50);

int default_threads() {
  for (const char* name : {"MLPCORE_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n >= 1) return n < MAX_THREADS ? n : MAX_THREADS;
    }
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n >= 1) return n < MAX_THREADS ? n : MAX_THREADS;
  }
  return 1;
}

struct Pool {
  std::atomic<int> threads{default_threads()};  // the setting: caller + workers

  std::atomic<bool> busy{false};  // a job is running (a flag, not a mutex: a task's own call
                                  // must see it taken, and a mutex may not be relocked)

  // the job
  std::atomic<unsigned> state{0};  // odd: a job is open; +1 at every open and every close
  void (*task)(void*, int) = nullptr;
  void* context = nullptr;
  int n = 0;
  std::atomic<int> helpers{0};                   // workers 0 .. helpers-1 may join the open job
  std::atomic<int> next{0};                      // the next unclaimed task
  std::chrono::steady_clock::time_point opened;  // when the job opened
  std::chrono::steady_clock::duration late{};    // see claim()
  std::atomic<int> done{0};                      // tasks finished
  FpState fp = 0;                                // the caller's floating-point mode
  std::atomic<int> inside{0};                    // workers inside the job
  std::exception_ptr error;                      // the first exception, guarded by error_lock
  std::mutex error_lock;

  // Stalls: a worker that claimed a task and was then descheduled (the machine's other
  // processes hold its core) makes the caller wait far longer than a task takes. After such a
  // job, jobs run on the caller alone for `backoff`, which doubles while stalls repeat and
  // halves after clean jobs: a busy machine costs about what one thread costs, an idle one
  // gets its threads back within milliseconds.
  using clock = std::chrono::steady_clock;
  clock::time_point serial_until{};
  clock::duration backoff = MIN_BACKOFF;
  static constexpr clock::duration MIN_BACKOFF = std::chrono::milliseconds(2);
  static constexpr clock::duration MAX_BACKOFF = std::chrono::milliseconds(200);
  int absent = 0;  // consecutive jobs the caller ran alone
  static constexpr int ABSENT_JOBS = 4;

  // sleeping workers
  std::mutex sleep_lock;
  std::condition_variable wake;
  std::atomic<int> sleepers{0};

  std::vector<std::thread>* workers = new std::vector<std::thread>;  // never freed (see below)

  // Returns how many tasks this thread ran. A worker takes the job's last task only if it
  // arrives within `late` of the opening: later, the caller is about to take it, and a worker
  // that is slow to be scheduled would only make the caller wait.
  int claim(bool worker) {
    int mine = 0;
    for (int i; (i = worker ? claim_as_worker() : next.fetch_add(1)) < n; ++mine) {
      try {
        InTask in;
        task(context, i);
      } catch (...) {
        std::lock_guard<std::mutex> g(error_lock);
        if (!error) error = std::current_exception();
      }
      done.fetch_add(1);
    }
    return mine;
  }

  int claim_as_worker() {
    int i = next.load();
    for (;;) {
      if (i >= n) return n;
      if (i == n - 1 && clock::now() - opened > late) return n;
      if (next.compare_exchange_weak(i, i + 1)) return i;
    }
  }

  void work(int index) {
    unsigned seen = 0;
    for (;;) {
      unsigned s = state.load();
      // a job for me: new, open, and I am among its helpers (a job that has already been
      // replaced by the next one fails the check below)
      const auto for_me = [&](unsigned t) {
        return t != seen && (t & 1) && index < helpers.load();
      };
      if (!for_me(s)) {  // spin a little, then sleep
        const auto until = std::chrono::steady_clock::now() + SPIN;
        for (int k = 0; !for_me(s = state.load()); ++k) {
          cpu_relax();
          if ((k & 63) == 63 && std::chrono::steady_clock::now() > until) {
            std::unique_lock<std::mutex> g(sleep_lock);
            sleepers.fetch_add(1);
            wake.wait(g, [&] { return for_me(state.load()); });
            sleepers.fetch_sub(1);
          }
        }
      }
      seen = s;
      inside.fetch_add(1);
      if (state.load() == s) {  // the job's fields are stable now
        set_fp_state(fp);       // the caller's mode: one result whatever thread runs a task
        claim(true);
      }
      inside.fetch_sub(1);
    }
  }

  // Every task on this thread; like a shared job, the first exception is rethrown after all
  // tasks ran.
  static void serially(int count, void (*f)(void*, int), void* c) {
    std::exception_ptr first;
    for (int i = 0; i < count; ++i) {
      try {
        InTask in;
        f(c, i);
      } catch (...) {
        if (!first) first = std::current_exception();
      }
    }
    if (first) std::rethrow_exception(first);
  }

  int start_workers(int count) {  // the caller owns busy; returns how many there are
    try {
      while (int(workers->size()) < count) {
        const int index = int(workers->size());
        workers->emplace_back([this, index] {
          // Asynchronous signals (Ctrl-C's SIGINT, SIGTERM, ...) go to the other threads:
          // Python handles them in its main thread, a worker has nothing to do with them.
          // Faults (SIGSEGV, ...) stay deliverable to their handlers (faulthandler, ASan).
          sigset_t async;
          sigfillset(&async);
          for (int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS})
            sigdelset(&async, fault);
          pthread_sigmask(SIG_BLOCK, &async, nullptr);
          pthread_setname_np(pthread_self(), "mlpcore-pool");  // as top and /proc show it
          work(index);
        });
      }
    } catch (const std::system_error&) {  // no more threads: run with those there are
    }
    const int have = int(workers->size());
    return have < count ? have : count;
  }

  void run(int count, void (*f)(void*, int), void* c, std::int64_t late_ns) {
    const int t = threads.load();
    bool idle = false;
    if (t <= 1 || count <= 1 || !busy.compare_exchange_strong(idle, true)) {
      serially(count, f, c);
      return;
    }
    struct Release {
      std::atomic<bool>& flag;
      ~Release() { flag.store(false); }
    } release{busy};
    if (clock::now() < serial_until) {  // backing off after a stall
      serially(count, f, c);
      return;
    }
    const int want = start_workers((count < t ? count : t) - 1);
    task = f;
    context = c;
    n = count;
    helpers = want;
    error = nullptr;
    next.store(0);
    done.store(0);
    late = std::chrono::nanoseconds(late_ns);
    fp = fp_state();
    opened = clock::now();
    state.fetch_add(1);  // open
    if (sleepers.load() > 0) {
      {
        std::lock_guard<std::mutex> g(sleep_lock);
      }
      wake.notify_all();
    }
    const auto t0 = clock::now();
    const int mine = claim(false);
    const auto t1 = clock::now();
    bool waited = false;           // for tasks other threads claimed
    while (done.load() < count) {  // tasks other threads claimed: let them run
      waited = true;
      for (int k = 0; k < 64 && done.load() < count; ++k) cpu_relax();
      if (done.load() < count) std::this_thread::yield();
    }
    // Judge the job: a stall (a worker held a task far longer than the caller's took), or
    // workers absent (the caller ran every task: the machine did not schedule them in time,
    // so the cut only cost). Either backs off; clean shared jobs shrink the backoff.
    const auto t2 = clock::now();
    bool bad = false;
    if (mine == count) {
      bad = ++absent >= ABSENT_JOBS;
    } else {
      absent = 0;
      // (mine == 0: the caller itself was descheduled while the workers did the job)
      bad = waited && mine > 0 && t2 - t1 > (t1 - t0) / mine + std::chrono::microseconds(50);
    }
    if (bad) {
      absent = 0;
      serial_until = t2 + backoff;
      backoff = backoff < MAX_BACKOFF ? 2 * backoff : MAX_BACKOFF;
    } else if (mine < count && backoff > MIN_BACKOFF) {
      backoff /= 2;
    }
    state.fetch_add(1);  // close
    while (inside.load() > 0) std::this_thread::yield();
    if (error) std::rethrow_exception(std::exchange(error, nullptr));
  }
};

// The pool lives as long as the process: its workers sleep in it at exit, so it is never
// destroyed. A forked child has none of the parent's threads: it starts a fresh pool.
Pool* pool = nullptr;
std::once_flag pool_once;

void after_fork_in_child() {
  const int threads = pool->threads.load();
  pool = new Pool;
  pool->threads.store(threads);
}

Pool& the_pool() {
  std::call_once(pool_once, [] {
    pool = new Pool;
    pthread_atfork(nullptr, nullptr, after_fork_in_child);
  });
  return *pool;
}

}  // namespace

void run(int n, void (*task)(void*, int), void* context, std::int64_t late_ns) {
  if (n <= 0) return;
  the_pool().run(n, task, context, late_ns);
}

int num_threads() {
  return the_pool().threads.load();
}

bool in_task() {
  return task_depth > 0;
}

void set_num_threads(int n) {
  if (n < 1 || n > MAX_THREADS)
    throw std::invalid_argument("n=" + std::to_string(n) + " threads: expected 1 to " +
                                std::to_string(MAX_THREADS));
  the_pool().threads.store(n);
}

}  // namespace mlpcore::parallel
