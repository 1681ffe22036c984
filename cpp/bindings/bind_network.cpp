// Network32 / Network64: the engine behind Sequential(backend="native"). Same methods as
// reference/network.py's Network. Shapes are checked here; compute runs without the GIL.
#include "common.hpp"
#include "mlpcore/network.hpp"
#include "mlpcore/train.hpp"

namespace mlpcore::bind {

// A layer spec tuple as Sequential builds it: (kind, n_in, n_out, *args), e.g.
// ("dense", 784, 256), ("relu", 256, 256), ("batchnorm", 256, 256, momentum, eps),
// ("dropout", 256, 256, p), ("leaky_relu", 256, 256, negative_slope). The kind table
// (layer_kinds.cpp) checks everything else.
static LayerSpec parse_spec(const py::handle& h, size_t i) {
  const std::string where = "layer spec " + std::to_string(i) + ": ";
  if (!py::isinstance<py::tuple>(h))
    throw std::invalid_argument(where + "must be a tuple (kind, n_in, n_out, *args)");
  const py::tuple t = py::reinterpret_borrow<py::tuple>(h);
  if (t.size() < 3) throw std::invalid_argument(where + "must be a tuple (kind, n_in, n_out, *args)");
  try {
    std::vector<double> args;
    for (size_t k = 3; k < t.size(); ++k) args.push_back(t[k].cast<double>());
    return make_layer_spec(t[0].cast<std::string>(), t[1].cast<long long>(),
                           t[2].cast<long long>(), args);
  } catch (const py::cast_error&) {
    throw std::invalid_argument(where + "expected (str, int, int, float...), got " +
                                std::string(py::repr(t)));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + e.what());
  }
}

// The optimizer as Sequential describes it: {"name": "sgd" | "adam", "lr", "weight_decay",
// "momentum", "nesterov", "beta1", "beta2", "eps"}; missing keys keep their defaults.
static Optimizer parse_optimizer(const py::dict& d) {
  Optimizer o;
  o.kind = optimizer_from_name(d.contains("name") ? d["name"].cast<std::string>() : "sgd");
  auto get = [&](const char* key, double& out) {
    if (d.contains(key)) out = d[key].cast<double>();
  };
  get("lr", o.lr);
  get("weight_decay", o.weight_decay);
  get("momentum", o.momentum);
  get("beta1", o.beta1);
  get("beta2", o.beta2);
  get("eps", o.eps);
  if (d.contains("nesterov")) o.nesterov = d["nesterov"].cast<bool>();
  check_optimizer(o);
  return o;
}

template <typename T>
static void def_network(py::module_& m, const char* name) {
  using Net = Network<T>;
  using Buffer = typename Net::Buffer;
  py::class_<Net> cls(m, name);
  // get_params/set_params, get_state/set_state, get_optimizer_state/set_optimizer_state:
  // whole flat buffers, copied (see Network::Buffer).
  const struct {
    const char* name;
    Buffer buffer;
  } buffers[] = {{"params", Buffer::Params}, {"state", Buffer::State},
                 {"optimizer_state", Buffer::OptimizerState}};
  for (const auto& [what, b] : buffers) {
    cls.def(("get_" + std::string(what)).c_str(), [b = b](const Net& net) {
      Array<T> out(py::ssize_t(net.size(b)));
      net.read(b, out.mutable_data());
      return out;
    });
    cls.def(("set_" + std::string(what)).c_str(), [b = b, what = what](Net& net,
                                                                        const Array<T>& flat) {
      check_size(flat, what, py::ssize_t(net.size(b)));
      const Array<T> in = aligned(flat);
      net.write(b, in.data());
    }, py::arg("flat"));
  }
  cls
      .def(py::init([](const py::list& specs, const std::string& loss, std::uint64_t seed) {
             std::vector<LayerSpec> layers;
             for (size_t i = 0; i < specs.size(); ++i) layers.push_back(parse_spec(specs[i], i));
             return new Net(std::move(layers), loss_from_name(loss), seed);
           }),
           py::arg("specs"), py::arg("loss"), py::arg("seed"))
      .def_property_readonly("n_inputs", &Net::n_inputs)
      .def_property_readonly("n_outputs", &Net::n_outputs)
      .def_property_readonly("n_params", &Net::n_params)
      .def("predict", [](Net& net, const Array<T>& X, bool training, std::uint64_t step) {
        const Array<T> x = aligned(X);
        const int B = rows_of(x, "X", net.n_inputs());
        Array<T> h({B, net.n_outputs()});
        py::gil_scoped_release release;
        net.predict(h.mutable_data(), x.data(), B, training, step);
        return h;
      }, py::arg("X"), py::arg("training"), py::arg("step"))
      .def("loss", [](Net& net, const Array<T>& X, const Array<T>& Y, bool training,
                      std::uint64_t step) {
        const Array<T> x = aligned(X), y = aligned(Y);
        const int B = rows_of(x, "X", net.n_inputs());
        if (rows_of(y, "Y", net.n_outputs()) != B)
          throw std::invalid_argument("Y must have as many rows as X");
        py::gil_scoped_release release;
        return net.loss(x.data(), y.data(), B, training, step);
      }, py::arg("X"), py::arg("Y"), py::arg("training"), py::arg("step"))
      .def("gradients", [](Net& net, const Array<T>& X, const Array<T>& Y, bool training,
                           std::uint64_t step) {
        const Array<T> x = aligned(X), y = aligned(Y);
        const int B = rows_of(x, "X", net.n_inputs());
        if (rows_of(y, "Y", net.n_outputs()) != B)
          throw std::invalid_argument("Y must have as many rows as X");
        Array<T> grad(py::ssize_t(net.n_params()));
        double value;
        {
          py::gil_scoped_release release;
          value = net.gradients(grad.mutable_data(), x.data(), y.data(), B, training, step);
        }
        return py::make_tuple(value, grad);
      }, py::arg("X"), py::arg("Y"), py::arg("training"), py::arg("step"))
      .def("train_epoch", [](Net& net, const Array<T>& X, const Array<T>& Y, int batch_size,
                             const py::dict& optimizer, std::uint64_t opt_step,
                             std::uint64_t epoch, std::uint64_t step, bool shuffle) {
        const Optimizer opt = parse_optimizer(optimizer);
        const Array<T> x = aligned(X), y = aligned(Y);
        const int n = rows_of(x, "X", net.n_inputs());
        if (rows_of(y, "Y", net.n_outputs()) != n)
          throw std::invalid_argument("Y must have as many rows as X");
        EpochResult r;
        {
          py::gil_scoped_release release;
          r = train_epoch(net, x.data(), y.data(), n, batch_size, opt, opt_step, epoch, step,
                          shuffle);
        }
        return py::make_tuple(r.loss, r.steps);
      }, py::arg("X"), py::arg("Y"), py::arg("batch_size"), py::arg("optimizer"),
         py::arg("opt_step"), py::arg("epoch"), py::arg("step"), py::arg("shuffle"));
}

void register_network(py::module_& m) {
  def_network<float>(m, "Network32");
  def_network<double>(m, "Network64");
}

}  // namespace mlpcore::bind
