// The extension module mlpcore._core: only wires the register_*() calls of bind_*.cpp.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace mlpcore::bind {
void register_blas(py::module_& m);
void register_rng(py::module_& m);
void register_layers(py::module_& m);
void register_network(py::module_& m);
}  // namespace mlpcore::bind

PYBIND11_MODULE(_core, m) {
  m.doc() = "mlpcore's C++ engine on OpenBLAS; see python/mlpcore for the API";
  mlpcore::bind::register_blas(m);
  mlpcore::bind::register_rng(m);
  mlpcore::bind::register_layers(m);
  mlpcore::bind::register_network(m);
}
