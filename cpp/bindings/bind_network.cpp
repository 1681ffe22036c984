// Network32 / Network64: the engine behind Sequential(backend="native"). Same methods as
// reference/network.py's Network. Shapes are checked here; compute runs without the GIL.
#include "common.hpp"
#include "mlpcore/network.hpp"
#include "mlpcore/train.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <thread>
#include <limits>
#include <optional>
#include <type_traits>

namespace mlpcore::bind {

// Progress of a running epoch, shared with a Python thread that draws a progress bar.
struct Progress {
  std::atomic<std::int64_t> done{0}, total{0};
  std::atomic<double> loss{0.0};  // the running epoch's mean loss so far (NaN before a step)
};

// The main thread's ident, the only thread Python runs signal handlers on (set at import).
static unsigned long main_thread = 0;

// The stop test of an evaluation pass (Network::predict and loss call it before each row
// block, on any thread of the pool): true once the interpreter is exiting, or once Ctrl-C
// was seen. On the main thread, Python's signal handlers run at most every 50 ms (taking
// the GIL for it), as between training steps; the handler's exception is raised by finish().
class Interrupts {
 public:
  using Clock = std::chrono::steady_clock;
  bool operator()() {
    if (stopped_.load(std::memory_order_relaxed)) return true;
    if (exiting.load()) return stop();
    if (!poll_ || std::this_thread::get_id() != caller_ || Clock::now() < next_poll_) return false;
    next_poll_ = Clock::now() + std::chrono::milliseconds(50);
    WithGil gil;
    if (PyErr_CheckSignals() != 0) {
      signalled_ = true;
      return stop();
    }
    return false;
  }
  std::function<bool()> as_function() {
    return [this] { return (*this)(); };
  }
  // With the GIL, after the call: raises what stopped it, if anything did.
  void finish() const {
    if (signalled_) throw py::error_already_set();  // the KeyboardInterrupt the handler raised
    if (stopped_)
      throw std::runtime_error("mlpcore: the interpreter is exiting; the call was cancelled");
  }
  bool stopped() const { return stopped_; }

 private:
  bool stop() {
    stopped_ = true;
    return true;
  }
  std::thread::id caller_ = std::this_thread::get_id();
  bool poll_ = PyThread_get_thread_ident() == main_thread;  // constructed with the GIL
  Clock::time_point next_poll_ = Clock::now() + std::chrono::milliseconds(50);
  bool signalled_ = false;  // written only on the caller's thread
  std::atomic<bool> stopped_{false};
};

// A layer spec tuple as Sequential builds it: (kind, n_in, n_out, *args), e.g.
// ("dense", 784, 256), ("relu", 256, 256), ("batchnorm", 256, 256, momentum, eps),
// ("dropout", 256, 256, p), ("leaky_relu", 256, 256, negative_slope). The kind table
// (layer_kinds.cpp) checks everything else.
static LayerSpec parse_spec(const py::handle& h, size_t i) {
  const std::string where = "layer spec " + std::to_string(i) + ": ";
  if (!py::isinstance<py::tuple>(h))
    throw std::invalid_argument(where + "must be a tuple (kind, n_in, n_out, *args)");
  const py::tuple t = py::reinterpret_borrow<py::tuple>(h);
  if (t.size() < 3)
    throw std::invalid_argument(where + "must be a tuple (kind, n_in, n_out, *args)");
  try {
    std::vector<double> args;
    for (size_t k = 3; k < t.size(); ++k) args.push_back(t[k].cast<double>());
    return make_layer_spec(t[0].cast<std::string>(), t[1].cast<long long>(), t[2].cast<long long>(),
                           args);
  } catch (const py::cast_error&) {
    throw std::invalid_argument(where + "expected (str, int, int, float...), got " +
                                std::string(py::repr(t)));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + e.what());
  }
}

// The optimizer as Sequential describes it: {"name": "sgd" | "adam" | "adamw" | "rmsprop",
// "lr", "weight_decay", "momentum", "nesterov", "beta1", "beta2", "eps", "alpha",
// "sklearn_eps"}; missing keys
// keep their defaults.
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
  get("alpha", o.alpha);
  if (d.contains("nesterov")) o.nesterov = d["nesterov"].cast<bool>();
  if (d.contains("sklearn_eps")) o.sklearn_eps = d["sklearn_eps"].cast<bool>();
  check_optimizer(o);
  return o;
}

// A 1-D sequence of numbers as a vector (converted like numpy.asarray).
template <typename V>
static std::vector<V> to_vector(const py::object& a, const char* name) {
  const auto arr = py::array_t<V, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!arr || arr.ndim() != 1) throw std::invalid_argument(std::string(name) + " must be 1-D");
  return std::vector<V>(arr.data(), arr.data() + arr.size());
}

// Sample weights: None, or (rows,) values > 0 (checked here: the engine divides by their sum).
template <typename T>
static std::optional<Array<T>> weights_of(const py::object& w, int rows) {
  if (w.is_none()) return std::nullopt;
  const Array<T> a = aligned(w.cast<Array<T>>());
  check_size(a, "sample_weight", rows);
  for (py::ssize_t i = 0; i < rows; ++i)
    if (!(a.data()[i] > 0 && std::isfinite(double(a.data()[i]))))
      throw std::invalid_argument("sample_weight must be finite and > 0");
  return a;
}

// The rows of a loss or gradients call: X (B, n_in), Y (B, n_out) and the optional sample
// weights, checked against the network and aligned for the engine.
template <typename T>
struct Batch {
  template <typename Net>
  Batch(const Net& net, const Array<T>& X, const Array<T>& Y, const py::object& sample_weight)
      : x(aligned(X)), y(aligned(Y)), n(rows_of(x, "X", net.n_inputs())) {
    if (rows_of(y, "Y", net.n_outputs()) != n)
      throw std::invalid_argument("Y must have as many rows as X");
    w = weights_of<T>(sample_weight, n);
  }
  const T* weights() const { return w ? w->data() : nullptr; }
  Array<T> x, y;
  int n;
  std::optional<Array<T>> w;
};

// The input rows of an epoch: a dense (n, n_in) array (a float32 network also reads float64
// rows without a converted copy), or a CSR triple (data, indices, indptr).
template <typename T>
struct EpochInput {
  Array<T> dense, data;
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> indices, indptr;
  Rows<T> rows;
  int n = 0;
  py::array_t<double, py::array::c_style> dense_f64;
  EpochInput(const py::object& X, int n_inputs) {
    if constexpr (std::is_same_v<T, float>) {
      // a C-contiguous, aligned float64 X is read as it is and converted batch by batch
      if (py::isinstance<py::array_t<double, py::array::c_style>>(X)) {
        dense_f64 = X.cast<py::array_t<double, py::array::c_style>>();
        if (dense_f64.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_) {
          if (dense_f64.ndim() != 2 || dense_f64.shape(1) != n_inputs || dense_f64.shape(0) < 1 ||
              dense_f64.shape(0) > INT_MAX)
            throw std::invalid_argument("X must have shape (n, " + std::to_string(n_inputs) +
                                        "), got " + shape_str(dense_f64));
          n = int(dense_f64.shape(0));
          rows.dense_f64 = dense_f64.data();
          return;
        }
      }
    }
    if (!py::isinstance<py::tuple>(X)) {
      dense = aligned(X.cast<Array<T>>());
      n = rows_of(dense, "X", n_inputs);
      rows.dense = dense.data();
      return;
    }
    const py::tuple t = X.cast<py::tuple>();
    if (t.size() != 3) throw std::invalid_argument("a CSR X must be (data, indices, indptr)");
    data = aligned(t[0].cast<Array<T>>());
    indices = t[1].cast<decltype(indices)>();
    indptr = t[2].cast<decltype(indptr)>();
    if (data.ndim() != 1 || indices.ndim() != 1 || indptr.ndim() != 1 || indptr.size() < 2 ||
        data.size() != indices.size() || indptr.size() - 1 > INT_MAX)
      throw std::invalid_argument(
          "a CSR X needs 1-D data and indices of one length and indptr "
          "of n_rows + 1 entries");
    const std::int64_t* p = indptr.data();
    const std::int64_t nnz = std::int64_t(data.size());
    if (p[0] != 0 || p[indptr.size() - 1] != nnz)
      throw std::invalid_argument("CSR indptr must start at 0 and end at len(data)");
    for (py::ssize_t r = 0; r + 1 < indptr.size(); ++r)
      if (p[r + 1] < p[r]) throw std::invalid_argument("CSR indptr must be non-decreasing");
    for (std::int64_t k = 0; k < nnz; ++k)
      if (indices.data()[k] < 0 || indices.data()[k] >= n_inputs)
        throw std::invalid_argument("CSR column indices must lie in [0, " +
                                    std::to_string(n_inputs) + ")");
    n = int(indptr.size() - 1);
    rows.data = data.data();
    rows.indices = indices.data();
    rows.indptr = p;
  }
};

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
  } buffers[] = {{"params", Buffer::Params},
                 {"state", Buffer::State},
                 {"optimizer_state", Buffer::OptimizerState}};
  for (const auto& [what, b] : buffers) {
    cls.def(("get_" + std::string(what)).c_str(), [b = b](const Net& net) {
      Array<T> out(py::ssize_t(net.size(b)));
      T* dst = out.mutable_data();
      // without the GIL: a fit on another thread holds the network's lock and takes the
      // GIL to poll for Ctrl-C; waiting for the lock with the GIL would deadlock both
      WithoutGil release;
      net.read(b, dst);
      return out;
    });
    cls.def(("set_" + std::string(what)).c_str(),
            [b = b, what = what](Net& net, const Array<T>& flat) {
              check_size(flat, what, py::ssize_t(net.size(b)));
              const Array<T> in = aligned(flat);
              WithoutGil release;  // (as in get_*)
              net.write(b, in.data());
            },
            py::arg("flat"));
  }
  cls.def(py::init([](const py::list& specs, const std::string& loss, std::uint64_t seed) {
            std::vector<LayerSpec> layers;
            for (size_t i = 0; i < specs.size(); ++i) layers.push_back(parse_spec(specs[i], i));
            return new Net(std::move(layers), loss_from_name(loss), seed);
          }),
          py::arg("specs"), py::arg("loss"), py::arg("seed"))
      .def_property_readonly("n_inputs", &Net::n_inputs)
      .def_property_readonly("n_outputs", &Net::n_outputs)
      .def_property_readonly("n_params", &Net::n_params)
      .def("cuts_by_neurons", &Net::cuts_by_neurons, py::arg("batch_size"),
           "Whether a training step on batch_size rows is cut by neurons into two pieces that "
           "two threads share (a rule on the layers and the batch size, never the thread "
           "count).")
      .def(
          "predict",
          [](Net& net, const Array<T>& X, bool training, std::uint64_t step, bool check_finite) {
            const Array<T> x = aligned(X);
            const int B = rows_of(x, "X", net.n_inputs());
            Array<T> h({B, net.n_outputs()});
            bool finite;
            Interrupts stop;
            {
              WithoutGil release;  // X is scanned block by block as predict reads it
              finite = net.predict(h.mutable_data(), x.data(), B, training, step, check_finite,
                                   stop.as_function());
            }
            stop.finish();
            if (!finite) {
              require_finite(x, "X");                                     // names the first NaN/inf
              throw std::invalid_argument("X contains NaN or infinity");  // (X changed meanwhile)
            }
            return h;
          },
          py::arg("X"), py::arg("training"), py::arg("step"), py::arg("check_finite") = false,
          "Output activations; check_finite raises ValueError naming the first NaN/inf of X "
          "(the fast path of Sequential.predict for arrays that need no conversion).")
      .def(
          "loss",
          [](Net& net, const Array<T>& X, const Array<T>& Y, bool training, std::uint64_t step,
             const py::object& sample_weight) {
            const Batch<T> b(net, X, Y, sample_weight);
            Interrupts stop;
            double value;
            {
              WithoutGil release;
              value = net.loss(b.x.data(), b.y.data(), b.weights(), b.n, training, step,
                               stop.as_function());
            }
            stop.finish();
            return value;
          },
          py::arg("X"), py::arg("Y"), py::arg("training"), py::arg("step"),
          py::arg("sample_weight") = py::none())
      .def(
          "gradients",
          [](Net& net, const Array<T>& X, const Array<T>& Y, bool training, std::uint64_t step,
             const py::object& sample_weight) {
            const Batch<T> b(net, X, Y, sample_weight);
            Array<T> grad(py::ssize_t(net.n_params()));
            double value;
            {
              WithoutGil release;
              value = net.gradients(grad.mutable_data(), b.x.data(), b.y.data(), b.weights(), b.n,
                                    training, step);
            }
            return py::make_tuple(value, grad);
          },
          py::arg("X"), py::arg("Y"), py::arg("training"), py::arg("step"),
          py::arg("sample_weight") = py::none())
      .def(
          "train_epoch",
          [](Net& net, const py::object& X, const Array<T>& Y, const py::object& options,
             std::uint64_t opt_step, std::uint64_t epoch, std::uint64_t step) {
            // options: an mlpcore._engine.EpochOptions, read by attribute (checked by the caller;
            // the engine keeps the cheap invariant checks below)
            const auto opt = [&](const char* name) -> py::object { return options.attr(name); };
            EpochOptions o;
            o.batch_size = py::cast<int>(opt("batch_size"));
            o.shuffle = py::cast<bool>(opt("shuffle"));
            o.epoch = epoch;
            o.step = step;
            o.opt_step = opt_step;
            py::dict optimizer;  // a copy of the settings, which the rate and the decay join
            for (const auto item : py::dict(opt("optimizer"))) optimizer[item.first] = item.second;
            optimizer["lr"] = opt("lr");
            optimizer["weight_decay"] = opt("weight_decay");
            optimizer["sklearn_eps"] = opt("sklearn_eps");
            o.settings.opt = parse_optimizer(optimizer);
            const double l2_alpha = py::cast<double>(opt("l2_alpha"));
            const double clip_norm = py::cast<double>(opt("clip_norm"));
            const double clip_value = py::cast<double>(opt("clip_value"));
            if (!(l2_alpha >= 0 && clip_norm >= 0 && clip_value >= 0 && std::isfinite(l2_alpha) &&
                  std::isfinite(clip_norm) && std::isfinite(clip_value)))
              throw std::invalid_argument(
                  "l2_alpha, clip_norm and clip_value must be finite and >= 0");
            o.settings.l2_alpha = l2_alpha;
            o.settings.clip_norm = clip_norm;
            o.settings.clip_value = clip_value;
            const py::object lrs = opt("lrs"), order = opt("order");
            if (!lrs.is_none()) o.lrs = to_vector<double>(lrs, "lrs");
            if (!order.is_none()) o.order = to_vector<std::int64_t>(order, "order");
            o.grad_norms = py::cast<bool>(opt("grad_norms"));
            o.step_losses = py::cast<bool>(opt("step_losses"));
            const py::object progress_obj = opt("progress");
            Progress* progress =
                progress_obj.is_none() ? nullptr : py::cast<Progress*>(progress_obj);
            if (progress) {
              progress->done.store(0);
              progress->loss.store(std::numeric_limits<double>::quiet_NaN());
              o.progress = &progress->done;
              o.running_loss = &progress->loss;
            }
            const py::object sample_weight = opt("sample_weight");
            // polled between steps at most every 50 ms: interpreter exit stops the epoch (without
            // taking the GIL); with check_interrupts, Ctrl-C too (Python's handler runs)
            const bool check_interrupts = py::cast<bool>(opt("check_interrupts"));
            bool cancelled = false;
            o.interrupted = [check_interrupts, &cancelled] {
              if (exiting.load()) return cancelled = true;
              if (!check_interrupts) return false;
              WithGil gil;
              return PyErr_CheckSignals() != 0;
            };
            const EpochInput<T> x(X, net.n_inputs());
            const Array<T> y = aligned(Y);
            if (rows_of(y, "Y", net.n_outputs()) != x.n)
              throw std::invalid_argument("Y must have as many rows as X");
            const auto w = weights_of<T>(sample_weight, x.n);
            if (progress) progress->total.store(x.n);
            EpochResult r;
            {
              WithoutGil release;
              r = train_epoch(net, x.rows, y.data(), w ? w->data() : nullptr, x.n, o);
            }
            if (cancelled)
              throw std::runtime_error(
                  "mlpcore: the interpreter is exiting; the epoch was cancelled");
            if (r.interrupted) throw py::error_already_set();  // the KeyboardInterrupt it raised
            py::dict out;
            out["loss"] = r.loss;
            out["steps"] = r.steps;
            out["step_losses"] =
                py::array_t<double>(py::ssize_t(r.step_losses.size()), r.step_losses.data());
            out["grad_norms"] =
                py::array_t<double>(py::ssize_t(r.grad_norms.size()), r.grad_norms.data());
            return out;
          },
          py::arg("X"), py::arg("Y"), py::arg("options"), py::arg("opt_step"), py::arg("epoch"),
          py::arg("step"),
          "One epoch with the settings of options (an mlpcore._engine.EpochOptions); returns "
          "{loss, steps, step_losses, grad_norms}. X: (n, n_in) array or a CSR triple (data, "
          "indices, indptr). Raises KeyboardInterrupt (model as it was after the last completed "
          "step) when options.check_interrupts and Ctrl-C is pressed.");
}

void register_network(py::module_& m) {
  main_thread =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  m.def(
      "_shutdown",
      [] {
        exiting.store(true);
        py::gil_scoped_release release;
        while (calls_in_flight.load() > 0)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
      },
      "Refuses new engine calls, stops those under way at their next poll and waits (without "
      "the GIL) until all have returned. Registered with atexit when _core is imported.");
  py::module_::import("atexit").attr("register")(m.attr("_shutdown"));
  py::class_<Progress>(m, "Progress",
                       "Samples done in the running epoch, updated by the engine "
                       "after every step; read it from another thread.")
      .def(py::init<>())
      .def_property_readonly("done", [](const Progress& p) { return p.done.load(); })
      .def_property_readonly("total", [](const Progress& p) { return p.total.load(); })
      .def_property_readonly(
          "loss", [](const Progress& p) { return p.loss.load(); },
          "the epoch's mean loss over the steps done so far (NaN before)");
  def_network<float>(m, "Network32");
  def_network<double>(m, "Network64");
}

}  // namespace mlpcore::bind
