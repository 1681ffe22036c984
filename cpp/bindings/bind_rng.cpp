// The counter-based generator, exposed so tests can compare it with reference/rng.py.
#include "common.hpp"
#include "mlpcore/rng.hpp"

namespace mlpcore::bind {

void register_rng(py::module_& m) {  // m is _core.testing
  auto r = m.def_submodule("rng", "counter-based random numbers (twin: reference/rng.py)");
  r.def("key", &rng::key, py::arg("seed"), py::arg("stream"), py::arg("a"), py::arg("b"));
  r.def(
      "bits",
      [](std::uint64_t k, std::int64_t n) {
        if (n < 0) throw std::invalid_argument("n must be >= 0");
        py::array_t<std::uint64_t> out(n);
        auto* p = out.mutable_data();
        for (std::int64_t i = 0; i < n; ++i) p[i] = rng::bits(k, std::uint64_t(i));
        return out;
      },
      py::arg("k"), py::arg("n"));
  r.def(
      "permutation",
      [](std::uint64_t seed, std::uint64_t epoch, std::int64_t n) {
        if (n < 0) throw std::invalid_argument("n must be >= 0");
        py::array_t<std::int64_t> out(n);
        std::vector<std::uint64_t> keys(n);
        rng::permutation(out.mutable_data(), keys.data(), seed, epoch, n);
        return out;
      },
      py::arg("seed"), py::arg("epoch"), py::arg("n"));
  r.def(
      "keep_threshold",
      [](double p) {
        if (!(p >= 0 && p < 1)) throw std::invalid_argument("p must lie in [0, 1)");
        return rng::keep_threshold(p);
      },
      py::arg("p"));
}

}  // namespace mlpcore::bind
