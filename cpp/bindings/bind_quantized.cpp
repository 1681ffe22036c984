// QuantizedNetwork (the engine behind mlpcore.quantize's models) and, in _core.testing, the
// int8 gemm with a choosable kernel (to check every path against the NumPy twin).
#include "common.hpp"
#include "mlpcore/quantized.hpp"

#include <chrono>

namespace mlpcore::bind {

namespace q = mlpcore::quantized;

static int width_of(const py::array& a, const char* name, int n) {
  if (a.ndim() != 1 || a.shape(0) != n)
    throw std::invalid_argument(std::string(name) + " must have shape (" + std::to_string(n) +
                                ",), got " + shape_str(a));
  return n;
}

static int int_dim(py::ssize_t d, const char* what) {
  if (d < 1 || d > INT_MAX) throw std::invalid_argument(std::string(what) + " out of range");
  return int(d);
}

void register_quantized(py::module_& m, py::module_& testing) {
  py::class_<q::QuantizedNetwork>(m, "QuantizedNetwork",
                                  "An int8 network: dense layers with int8 weights and 7-bit "
                                  "inputs, float steps between them (quantized.hpp)")
      .def(py::init<int, const std::string&>(), py::arg("n_in"), py::arg("loss"))
      .def(
          "add_dense",
          [](q::QuantizedNetwork& net, const Array<std::int8_t>& wq, const Array<float>& scale,
             const Array<float>& bias, int zp, float inv_s) {
            const Array<std::int8_t> w = aligned(wq);
            if (w.ndim() != 2) throw std::invalid_argument("wq must be 2-D, got " + shape_str(w));
            const int K = int_dim(w.shape(0), "wq rows"), N = int_dim(w.shape(1), "wq columns");
            const Array<float> s = aligned(scale), b = aligned(bias);
            width_of(s, "scale", N);
            width_of(b, "bias", N);
            net.add_dense(w.data(), K, N, s.data(), b.data(), zp, inv_s);
          },
          py::arg("wq"), py::arg("scale"), py::arg("bias"), py::arg("zp"), py::arg("inv_s"))
      .def("add_activation", &q::QuantizedNetwork::add_activation, py::arg("name"),
           py::arg("param") = 0.0)
      .def(
          "add_affine",
          [](q::QuantizedNetwork& net, const Array<float>& a, const Array<float>& c) {
            const Array<float> aa = aligned(a), cc = aligned(c);
            if (aa.ndim() != 1) throw std::invalid_argument("a must be 1-D");
            const int n = int_dim(aa.shape(0), "a");
            width_of(cc, "c", n);
            net.add_affine(aa.data(), cc.data(), n);
          },
          py::arg("a"), py::arg("c"))
      .def_property_readonly("n_in", &q::QuantizedNetwork::n_in)
      .def_property_readonly("n_out", &q::QuantizedNetwork::n_out)
      .def_property_readonly("n_dense", &q::QuantizedNetwork::n_dense)
      .def(
          "predict",
          [](const q::QuantizedNetwork& net, const Array<float>& X, bool probabilities) {
            const Array<float> x = aligned(X);
            const int M = rows_of(x, "X", net.n_in());
            Array<float> out({py::ssize_t(M), py::ssize_t(net.n_out())});
            bool finite;
            {
              WithoutGil
                  release;  // counted (see common.hpp); X is checked for NaN/inf as it is read
              finite = net.predict(out.mutable_data(), x.data(), M, probabilities);
            }
            if (!finite) require_finite(x, "X");  // raises, naming the first bad element
            return out;
          },
          py::arg("X"), py::arg("probabilities") = true,
          "(M, n_out) float32: the output activation (probabilities=True) or the last "
          "layer's float z")
      .def(
          "trace",
          [](const q::QuantizedNetwork& net, int i, const Array<float>& X) {
            const Array<float> x = aligned(X);
            const int M = rows_of(x, "X", net.n_in());
            require_finite(x, "X");
            std::vector<std::uint8_t> xq;
            std::vector<std::int32_t> acc;
            {
              WithoutGil release;  // (counted: see common.hpp)
              net.trace(i, xq, acc, x.data(), M);
            }
            const q::QDense& d = net.layer(i);
            const int lda = q::padded_k(d.w.K), ld = d.w.n_panels * 16;
            py::array_t<std::uint8_t> xq_out({py::ssize_t(M), py::ssize_t(d.w.K)});
            py::array_t<std::int32_t> acc_out({py::ssize_t(M), py::ssize_t(d.w.N)});
            for (int r = 0; r < M; ++r) {
              std::memcpy(xq_out.mutable_data(r, 0), xq.data() + std::size_t(r) * lda,
                          size_t(d.w.K));
              std::memcpy(acc_out.mutable_data(r, 0), acc.data() + std::size_t(r) * ld,
                          sizeof(std::int32_t) * size_t(d.w.N));
            }
            return py::make_tuple(xq_out, acc_out);
          },
          py::arg("i"), py::arg("X"),
          "(xq, acc): dense layer i's quantized input (M, K) uint8 and int32 accumulators "
          "(M, N), on the calling thread (for tests)");

  m.def(
      "int8_kernel", [] { return std::string(q::kernel_name(q::current_kernel())); },
      "The int8 gemm kernel in use: 'amx', 'vnni', 'avx2' or 'portable'.");

  testing.def(
      "set_int8_kernel", [](const std::string& name) { q::set_kernel(q::kernel_from_name(name)); },
      py::arg("name"),
      "Forces the int8 kernel ('amx', 'vnni', 'avx2', 'portable'); ValueError if the "
      "CPU lacks it.");
  testing.def(
      "int8_peak",
      [](const std::string& what, long iters) {
        q::peak_macs_per_iteration(what);
        double seconds, sink;
        {
          WithoutGil release;  // (counted: see common.hpp)
          const auto t0 = std::chrono::steady_clock::now();
          sink = q::run_peak(what, iters);
          seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        return py::make_tuple(q::peak_macs_per_iteration(what) * double(iters) / seconds, sink);
      },
      py::arg("what"), py::arg("iters"),
      "(multiply-accumulates per second, a value) of a register-only loop on this thread: "
      "'vnni512', 'avx2_int8', 'fma512', 'fma256'");
  testing.def(
      "int8_gemm_seconds",
      [](int M, int K, int N, int reps) {
        if (M < 1 || K < 1 || N < 1 || reps < 1) throw std::invalid_argument("sizes must be >= 1");
        std::vector<std::int8_t> w(std::size_t(K) * N);
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::int8_t(int(i * 37 % 255) - 127);
        const q::PackedWeights p = q::pack_weights(w.data(), K, N);
        const int lda = q::padded_k(K), ld = p.n_panels * 16;
        std::vector<std::uint8_t> a(std::size_t(M) * lda, 3);
        std::vector<std::int32_t> acc(std::size_t(M) * ld);
        WithoutGil release;  // (counted: see common.hpp)
        q::gemm_acc(q::current_kernel(), acc.data(), ld, a.data(), lda, p, M);
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r)
          q::gemm_acc(q::current_kernel(), acc.data(), ld, a.data(), lda, p, M);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
      },
      py::arg("M"), py::arg("K"), py::arg("N"), py::arg("reps"),
      "seconds of one (M, K) x (K, N) int8 product on this thread with the current kernel "
      "(prepacked weights, after one warm-up)");
  testing.def(
      "int8_kernel_supported",
      [](const std::string& name) { return q::kernel_supported(q::kernel_from_name(name)); },
      py::arg("name"));
  testing.def(
      "int8_gemm",
      [](const Array<std::uint8_t>& A, const Array<std::int8_t>& W) {
        const Array<std::uint8_t> a = aligned(A);
        const Array<std::int8_t> w = aligned(W);
        if (a.ndim() != 2 || w.ndim() != 2 || a.shape(1) != w.shape(0))
          throw std::invalid_argument("int8_gemm needs a (M, K) and w (K, N), got " + shape_str(a) +
                                      " and " + shape_str(w));
        const int M = int_dim(a.shape(0), "M"), K = int_dim(a.shape(1), "K"),
                  N = int_dim(w.shape(1), "N");
        for (py::ssize_t i = 0; i < a.size(); ++i)
          if (a.data()[i] > 127) throw std::invalid_argument("a must lie in [0, 127]");
        const q::PackedWeights p = q::pack_weights(w.data(), K, N);
        const int lda = q::padded_k(K), ld = p.n_panels * 16;
        std::vector<std::uint8_t> ap(std::size_t(M) * lda, 0);
        for (int r = 0; r < M; ++r)
          std::memcpy(ap.data() + std::size_t(r) * lda, a.data() + std::size_t(r) * K, size_t(K));
        std::vector<std::int32_t> acc(std::size_t(M) * ld);
        {
          WithoutGil release;  // (counted: see common.hpp)
          q::gemm_acc(q::current_kernel(), acc.data(), ld, ap.data(), lda, p, M);
        }
        py::array_t<std::int32_t> out({py::ssize_t(M), py::ssize_t(N)});
        for (int r = 0; r < M; ++r)
          std::memcpy(out.mutable_data(r, 0), acc.data() + std::size_t(r) * ld,
                      sizeof(std::int32_t) * size_t(N));
        return out;
      },
      py::arg("a"), py::arg("w"),
      "int32 (M, N) = a (M, K) uint8 in [0, 127] @ w (K, N) int8 in [-127, 127], with the "
      "current int8 kernel");
}

}  // namespace mlpcore::bind
