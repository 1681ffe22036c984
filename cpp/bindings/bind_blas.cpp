// gemm (BLAS and naive) and the BLAS thread count.
#include "common.hpp"
#include "mlpcore/blas.hpp"

namespace mlpcore::bind {

template <typename T>
static void def_gemm(py::module_& m) {
  // a is (M, K) (or (K, M) with trans_a), b is (K, N) (or (N, K) with trans_b); returns (M, N).
  auto product = [](bool naive) {
    return [naive](const Array<T>& a, const Array<T>& b, bool trans_a, bool trans_b) {
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

void register_blas(py::module_& m) {
  def_gemm<float>(m);
  def_gemm<double>(m);
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw std::invalid_argument("n must be >= 1, got " + std::to_string(n));
    set_num_threads(n);
  }, py::arg("n"), "Sets the number of BLAS threads (the core's only thread pool).");
  m.def("get_num_threads", &get_num_threads, "The number of BLAS threads.");
}

}  // namespace mlpcore::bind
