// gemm and gemv (BLAS and naive) and the thread pool's own check (in _core.testing); the
// thread count (in _core).
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common.hpp"
#include "mlpcore/fp_mode.hpp"
#include "mlpcore/blas.hpp"
#include "mlpcore/parallel.hpp"

namespace mlpcore::bind {

template <typename T>
static void def_gemm(py::module_& m) {
  // a is (M, K) (or (K, M) with trans_a), b is (K, N) (or (N, K) with trans_b); returns (M, N).
  auto product = [](bool naive) {
    return [naive](const Array<T>& a_in, const Array<T>& b_in, bool trans_a, bool trans_b) {
      const Array<T> a = aligned(a_in), b = aligned(b_in);
      const int ra = rows_of(a, "a", -1), rb = rows_of(b, "b", -1);
      const int ca = static_cast<int>(a.shape(1)), cb = static_cast<int>(b.shape(1));
      const int M = trans_a ? ca : ra, K = trans_a ? ra : ca;
      const int Kb = trans_b ? cb : rb, N = trans_b ? rb : cb;
      if (K != Kb)
        throw std::invalid_argument("gemm: inner dimensions differ: a gives " + std::to_string(K) +
                                    ", b gives " + std::to_string(Kb));
      Array<T> c({M, N});
      const Trans ta = trans_a ? Trans::Yes : Trans::No, tb = trans_b ? Trans::Yes : Trans::No;
      {
        WithoutGil release;
        (naive ? gemm_naive<T> : gemm<T>)(ta, tb, M, N, K, T(1), a.data(), ca, b.data(), cb, T(0),
                                          c.mutable_data(), N);
      }
      return c;
    };
  };
  m.def("gemm", product(false), py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, "op(a) @ op(b) through the bundled OpenBLAS");
  m.def("gemm_naive", product(true), py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, "op(a) @ op(b) by plain loops (the test reference)");
  // a (M, N), x (N,) or (M,) with trans; returns a x or a^T x
  m.def(
      "gemv",
      [](const Array<T>& a_in, const Array<T>& x_in, bool trans) {
        const Array<T> a = aligned(a_in), x = aligned(x_in);
        const int M = rows_of(a, "a", -1), N = static_cast<int>(a.shape(1));
        if (x.ndim() != 1 || x.shape(0) != (trans ? M : N))
          throw std::invalid_argument("gemv: x must have shape (" + std::to_string(trans ? M : N) +
                                      ",)");
        Array<T> y(std::vector<py::ssize_t>{trans ? N : M});
        {
          WithoutGil release;
          gemv(trans ? Trans::Yes : Trans::No, M, N, T(1), a.data(), N, x.data(), T(0),
               y.mutable_data());
        }
        return y;
      },
      py::arg("a"), py::arg("x"), py::arg("trans") = false, "op(a) @ x through the BLAS");
}

// parallel::run on n tasks; task i adds 1 to counts[i] (and runs an inner run of `inner`
// tasks, which must run serially on the same thread); task fail_at throws.
// Returns counts (n,), the number of distinct threads that ran tasks, and the message of the
// exception run rethrew (None if none).
py::tuple parallel_counts(int n, int inner, int fail_at) {
  if (n < 0 || inner < 0) throw std::invalid_argument("n and inner must be >= 0");
  std::vector<std::atomic<long long>> counts(static_cast<std::size_t>(n));
  std::mutex lock;
  std::set<std::thread::id> ids;
  auto task = [&](int i) {
    {
      std::lock_guard<std::mutex> g(lock);
      ids.insert(std::this_thread::get_id());
    }
    if (i == fail_at) throw std::invalid_argument("task " + std::to_string(i) + " failed");
    auto sub = [&](int) { counts[std::size_t(i)].fetch_add(1); };
    parallel::run(inner, sub);
    counts[std::size_t(i)].fetch_add(1);
    volatile double spin = 0;  // a little work, so that workers get to claim tasks
    for (int k = 0; k < 20000; ++k) spin = spin + k;
  };
  py::object error = py::none();
  try {
    WithoutGil release;
    parallel::run(n, task);
  } catch (const std::invalid_argument& e) {
    error = py::str(e.what());
  }
  Array<long long> out(std::vector<py::ssize_t>{n});
  for (int i = 0; i < n; ++i) out.mutable_data()[i] = counts[std::size_t(i)].load();
  return py::make_tuple(out, static_cast<int>(ids.size()), error);
}

void register_gemm(py::module_& testing) {
  def_gemm<float>(testing);
  def_gemm<double>(testing);
  testing.def("parallel_counts", &parallel_counts, py::arg("n"), py::arg("inner") = 0,
              py::arg("fail_at") = -1,
              "runs n counting tasks on the core's pool: (counts (n,), threads used, error)");
}

void register_threads(py::module_& m) {
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) throw std::invalid_argument("n must be >= 1, got " + std::to_string(n));
        if (n > parallel::MAX_THREADS)
          throw std::invalid_argument("n=" + std::to_string(n) + " exceeds the maximum of " +
                                      std::to_string(parallel::MAX_THREADS) + " threads");
        set_num_threads(n);
      },
      py::arg("n"),
      "Sets the number of threads of the core's pool (the BLAS runs on one); "
      "raises ValueError above the maximum.");
  m.def("get_num_threads", &get_num_threads, "The number of threads of the core's pool.");
  m.def("set_flush_denormals", &set_flush_denormals, py::arg("on"),
        "Whether engine calls flush subnormal numbers to zero (fp_mode.hpp).");
  m.def("get_flush_denormals", &flush_denormals);
}

}  // namespace mlpcore::bind

// For threadpoolctl (mlpcore/_threads.py registers a controller that calls these): plain C
// symbols, visible although pybind11 hides the module's other symbols.
extern "C" __attribute__((visibility("default"))) int mlpcore_get_num_threads() {
  return mlpcore::get_num_threads();
}
extern "C" __attribute__((visibility("default"))) void mlpcore_set_num_threads(int n) {
  const int most = mlpcore::parallel::MAX_THREADS;  // threadpoolctl may ask for more
  mlpcore::set_num_threads(n < 1 ? 1 : n > most ? most : n);
}
