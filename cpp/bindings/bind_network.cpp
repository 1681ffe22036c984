// Network32 / Network64: the engine behind Sequential(backend="native"). Same methods as
// reference/network.py's Network. Shapes are checked here; compute runs without the GIL.
#include "common.hpp"
#include "mlpcore/network.hpp"

namespace mlpcore::bind {

// A layer spec tuple as Sequential builds it: ("dense", n_in, n_out), ("relu",), ...,
// ("batchnorm", n_features, momentum, eps), ("dropout", p).
static LayerSpec parse_spec(const py::handle& h, size_t i) {
  const py::tuple t = py::reinterpret_borrow<py::object>(h).cast<py::tuple>();
  const std::string where = "layer spec " + std::to_string(i) + ": ";
  if (t.size() < 1) throw std::invalid_argument(where + "empty");
  const std::string kind = t[0].cast<std::string>();
  auto need = [&](size_t n) {
    if (t.size() != n)
      throw std::invalid_argument(where + kind + " takes " + std::to_string(n - 1) + " values");
  };
  LayerSpec s;
  if (kind == "dense") {
    need(3);
    s.kind = LayerSpec::Kind::Dense;
    s.n_in = t[1].cast<int>();
    s.n_out = t[2].cast<int>();
  } else if (kind == "batchnorm") {
    need(4);
    s.kind = LayerSpec::Kind::BatchNorm;
    s.n_in = s.n_out = t[1].cast<int>();
    s.momentum = t[2].cast<double>();
    s.eps = t[3].cast<double>();
  } else if (kind == "dropout") {
    need(2);
    s.kind = LayerSpec::Kind::Dropout;
    s.p = t[1].cast<double>();
  } else {
    need(1);
    s.kind = LayerSpec::Kind::Activation;
    s.act = activation_from_name(kind);  // lists the known names when unknown
  }
  return s;
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
      net.write(b, flat.data());
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
      .def("predict", [](Net& net, const Array<T>& x, bool training, std::uint64_t step) {
        const int B = rows_of(x, "X", net.n_inputs());
        Array<T> h({B, net.n_outputs()});
        py::gil_scoped_release release;
        net.predict(h.mutable_data(), x.data(), B, training, step);
        return h;
      }, py::arg("X"), py::arg("training"), py::arg("step"))
      .def("loss", [](Net& net, const Array<T>& x, const Array<T>& y, bool training,
                      std::uint64_t step) {
        const int B = rows_of(x, "X", net.n_inputs());
        if (rows_of(y, "Y", net.n_outputs()) != B)
          throw std::invalid_argument("Y must have as many rows as X");
        py::gil_scoped_release release;
        return net.loss(x.data(), y.data(), B, training, step);
      }, py::arg("X"), py::arg("Y"), py::arg("training"), py::arg("step"))
      .def("gradients", [](Net& net, const Array<T>& x, const Array<T>& y, bool training,
                           std::uint64_t step) {
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
      .def("train_epoch", [](Net& net, const Array<T>& x, const Array<T>& y, int batch_size,
                             const py::dict& optimizer, std::uint64_t opt_step,
                             std::uint64_t epoch, std::uint64_t step, bool shuffle) {
        const Optimizer opt = parse_optimizer(optimizer);
        const int n = rows_of(x, "X", net.n_inputs());
        if (rows_of(y, "Y", net.n_outputs()) != n)
          throw std::invalid_argument("Y must have as many rows as X");
        if (batch_size < 1) throw std::invalid_argument("batch_size must be >= 1");
        if (net.has_batchnorm() && n < 2)
          throw std::invalid_argument("a network with BatchNorm needs at least 2 samples");
        py::gil_scoped_release release;
        return net.train_epoch(x.data(), y.data(), n, batch_size, opt, opt_step, epoch, step,
                               shuffle);
      }, py::arg("X"), py::arg("Y"), py::arg("batch_size"), py::arg("optimizer"),
         py::arg("opt_step"), py::arg("epoch"), py::arg("step"), py::arg("shuffle"));
}

void register_network(py::module_& m) {
  def_network<float>(m, "Network32");
  def_network<double>(m, "Network64");
}

}  // namespace mlpcore::bind
