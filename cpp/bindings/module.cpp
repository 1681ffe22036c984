// The extension module mlpcore._core: only wires the register_*() calls of bind_*.cpp.
// _core holds the engine (Network32/64, thread count); _core.testing the kernels one by one,
// for the tests that compare them with the NumPy twin.
#include <pybind11/pybind11.h>

#include <new>
#include <stdexcept>

#include "mlpcore/memory.hpp"

namespace py = pybind11;

namespace mlpcore::bind {
void register_threads(py::module_& m);
void register_gemm(py::module_& testing);
void register_rng(py::module_& testing);
void register_layers(py::module_& testing);
void register_network(py::module_& m);
void register_quantized(py::module_& m, py::module_& testing);
}  // namespace mlpcore::bind

PYBIND11_MODULE(_core, m) {
  m.doc() = "mlpcore's C++ engine on OpenBLAS; see python/mlpcore for the API";
  // Allocation failures become MemoryError with a message naming what needed the memory.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const mlpcore::OutOfMemory& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError,
                      "mlpcore: a buffer could not be allocated (out of memory)");
    } catch (const std::length_error& e) {
      PyErr_SetString(PyExc_MemoryError,
                      (std::string("mlpcore: a buffer would be too large: ") + e.what()).c_str());
    }
  });
  mlpcore::bind::register_threads(m);
  mlpcore::bind::register_network(m);
  auto testing = m.def_submodule(
      "testing", "the kernels one by one, with the NumPy twin's signatures (for tests)");
  mlpcore::bind::register_gemm(testing);
  mlpcore::bind::register_rng(testing);
  mlpcore::bind::register_layers(testing);
  mlpcore::bind::register_quantized(m, testing);
}
