// gemm (BLAS and naive, in _core.testing) and the BLAS thread count (in _core).
#include "common.hpp"
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
        throw std::invalid_argument("gemm: inner dimensions differ: a gives " +
                                    std::to_string(K) + ", b gives " + std::to_string(Kb));
      Array<T> c({M, N});
      const Trans ta = trans_a ? Trans::Yes : Trans::No, tb = trans_b ? Trans::Yes : Trans::No;
      {
        py::gil_scoped_release release;
        (naive ? gemm_naive<T> : gemm<T>)(ta, tb, M, N, K, T(1), a.data(), ca, b.data(), cb,
                                          T(0), c.mutable_data(), N);
      }
      return c;
    };
  };
  m.def("gemm", product(false), py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, "op(a) @ op(b) through the bundled OpenBLAS");
  m.def("gemm_naive", product(true), py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, "op(a) @ op(b) by plain loops (the test reference)");
}

void register_gemm(py::module_& testing) {
  def_gemm<float>(testing);
  def_gemm<double>(testing);
}

void register_threads(py::module_& m) {
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw std::invalid_argument("n must be >= 1, got " + std::to_string(n));
    if (n > parallel::MAX_THREADS)
      throw std::invalid_argument("n=" + std::to_string(n) + " exceeds the maximum of " +
                                  std::to_string(parallel::MAX_THREADS) + " threads");
    set_num_threads(n);
  }, py::arg("n"), "Sets the number of threads of the core's pool (the BLAS runs on one); "
                   "raises ValueError above the maximum.");
  m.def("get_num_threads", &get_num_threads, "The number of threads of the core's pool.");
}

}  // namespace mlpcore::bind

// For threadpoolctl (mlpcore/_threads.py registers a controller that calls these): plain C
// symbols, visible although pybind11 hides the module's other symbols.
extern "C" __attribute__((visibility("default"))) int mlpcore_get_num_threads() {
  return mlpcore::get_num_threads();
}
extern "C" __attribute__((visibility("default"))) void mlpcore_set_num_threads(int n) {
  if (n >= 1 && n <= mlpcore::parallel::MAX_THREADS) mlpcore::set_num_threads(n);
}
