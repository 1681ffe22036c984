// The layer, activation and loss functions one by one, with the NumPy twin's signatures
// (outputs returned instead of filled), so tests can call both engines the same way.
#include "common.hpp"

#include <optional>

#include "mlpcore/activations.hpp"
#include "mlpcore/layers.hpp"
#include "mlpcore/losses.hpp"

namespace mlpcore::bind {

template <typename T>
static void def_layers(py::module_& m) {
  m.def(
      "dense_forward",
      [](const Array<T>& x, const Array<T>& w, const Array<T>& b) {
        const int B = rows_of(x, "x", -1), I = static_cast<int>(x.shape(1));
        if (rows_of(w, "w", -1) != I) throw std::invalid_argument("w must have x.shape[1] rows");
        const int O = static_cast<int>(w.shape(1));
        check_size(b, "b", O);
        Array<T> z({B, O});
        WithoutGil release;
        dense_forward(z.mutable_data(), x.data(), w.data(), b.data(), B, I, O);
        return z;
      },
      py::arg("x"), py::arg("w"), py::arg("b"));

  m.def(
      "dense_backward",
      [](const Array<T>& dz, const Array<T>& x, const Array<T>& w) {
        const int B = rows_of(x, "x", -1), I = static_cast<int>(x.shape(1));
        rows_of(w, "w", -1);
        if (w.shape(0) != I) throw std::invalid_argument("w must have x.shape[1] rows");
        const int O = static_cast<int>(w.shape(1));
        if (rows_of(dz, "dz", O) != B) throw std::invalid_argument("dz must have x.shape[0] rows");
        Array<T> dx({B, I}), dw({I, O}), db(O);
        std::fill_n(dw.mutable_data(), size_t(I) * O, T(0));
        std::fill_n(db.mutable_data(), O, T(0));
        {
          WithoutGil release;
          dense_backward(dx.mutable_data(), dw.mutable_data(), db.mutable_data(), dz.data(),
                         x.data(), w.data(), B, I, O);
        }
        return py::make_tuple(dx, dw, db);
      },
      py::arg("dz"), py::arg("x"), py::arg("w"));

  m.def(
      "activation_forward",
      [](const std::string& name, const Array<T>& z, double param) {
        const Activation a = activation_info(name).kind;
        Array<T> h(std::vector<py::ssize_t>(z.shape(), z.shape() + z.ndim()));
        activation_forward(a, h.mutable_data(), z.data(), size_t(z.size()), param);
        return h;
      },
      py::arg("name"), py::arg("z"), py::arg("param") = 0.0);

  m.def(
      "activation_backward",
      [](const std::string& name, const Array<T>& dh, const Array<T>& z, const Array<T>& h,
         double param) {
        const Activation a = activation_info(name).kind;
        if (dh.size() != h.size() || dh.size() != z.size())
          throw std::invalid_argument("dh, z and h must have the same size");
        Array<T> dz(std::vector<py::ssize_t>(dh.shape(), dh.shape() + dh.ndim()));
        activation_backward(a, dz.mutable_data(), dh.data(), z.data(), h.data(), size_t(dh.size()),
                            param);
        return dz;
      },
      py::arg("name"), py::arg("dh"), py::arg("z"), py::arg("h"), py::arg("param") = 0.0);

  m.def(
      "output_activation",
      [](const std::string& name, const Array<T>& z) {
        const Loss l = loss_from_name(name);
        const int B = rows_of(z, "z", -1), K = static_cast<int>(z.shape(1));
        if (K < 1) throw std::invalid_argument("z must have at least one column");
        Array<T> h({B, K});
        output_activation(l, h.mutable_data(), z.data(), B, K);
        return h;
      },
      py::arg("name"), py::arg("z"));

  // w: None or (B,) sample weights
  auto weights = [](const py::object& w, int B) -> std::optional<Array<T>> {
    if (w.is_none()) return std::nullopt;
    Array<T> a = w.cast<Array<T>>();
    check_size(a, "w", B);
    return a;
  };

  m.def(
      "loss_forward",
      [weights](const std::string& name, const Array<T>& z, const Array<T>& y,
                const py::object& w) {
        const Loss l = loss_from_name(name);
        const int B = rows_of(z, "z", -1), K = static_cast<int>(z.shape(1));
        if (K < 1) throw std::invalid_argument("z must have at least one column");
        if (rows_of(y, "y", K) != B) throw std::invalid_argument("y must have the shape of z");
        const auto wa = weights(w, B);
        Array<T> h({B, K});
        const double value =
            loss_forward(l, h.mutable_data(), z.data(), y.data(), wa ? wa->data() : nullptr, B, K);
        return py::make_tuple(value, h);
      },
      py::arg("name"), py::arg("z"), py::arg("y"), py::arg("w") = py::none());

  m.def(
      "loss_backward",
      [weights](const std::string& name, const Array<T>& h, const Array<T>& y,
                const py::object& w) {
        const Loss l = loss_from_name(name);
        const int B = rows_of(h, "h", -1), K = static_cast<int>(h.shape(1));
        if (rows_of(y, "y", K) != B) throw std::invalid_argument("y must have the shape of h");
        const auto wa = weights(w, B);
        Array<T> dz({B, K});
        loss_backward(l, dz.mutable_data(), h.data(), y.data(), wa ? wa->data() : nullptr, B, K);
        return dz;
      },
      py::arg("name"), py::arg("h"), py::arg("y"), py::arg("w") = py::none());

  m.def(
      "batchnorm_forward",
      [](const Array<T>& x, const Array<T>& gamma, const Array<T>& beta,
         const Array<T>& running_mean, const Array<T>& running_var, bool training, double momentum,
         double eps, bool update_running) {
        const int B = rows_of(x, "x", -1), F = static_cast<int>(x.shape(1));
        check_size(gamma, "gamma", F);
        check_size(beta, "beta", F);
        check_size(running_mean, "running_mean", F);
        check_size(running_var, "running_var", F);
        Array<T> y({B, F}), xhat({B, F}), inv_std(F), rm(F), rv(F);
        std::copy_n(running_mean.data(), F, rm.mutable_data());
        std::copy_n(running_var.data(), F, rv.mutable_data());
        batchnorm_forward(y.mutable_data(), xhat.mutable_data(), inv_std.mutable_data(),
                          rm.mutable_data(), rv.mutable_data(), x.data(), gamma.data(), beta.data(),
                          B, F, training, momentum, eps, update_running);
        return py::make_tuple(y, py::make_tuple(xhat, inv_std), rm, rv);
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("running_mean"),
      py::arg("running_var"), py::arg("training"), py::arg("momentum"), py::arg("eps"),
      py::arg("update_running"));

  m.def(
      "batchnorm_backward",
      [](const Array<T>& dy, const py::tuple& cache, const Array<T>& gamma, bool training) {
        if (cache.size() != 2) throw std::invalid_argument("cache must be (xhat, inv_std)");
        const Array<T> xhat = cache[0].cast<Array<T>>(), inv_std = cache[1].cast<Array<T>>();
        const int B = rows_of(dy, "dy", -1), F = static_cast<int>(dy.shape(1));
        if (rows_of(xhat, "xhat", F) != B) throw std::invalid_argument("xhat must have dy's shape");
        check_size(inv_std, "inv_std", F);
        check_size(gamma, "gamma", F);
        Array<T> dx({B, F}), dgamma(F), dbeta(F);
        std::fill_n(dgamma.mutable_data(), F, T(0));
        std::fill_n(dbeta.mutable_data(), F, T(0));
        std::vector<T> sums(2 * size_t(F));
        batchnorm_backward(dx.mutable_data(), dgamma.mutable_data(), dbeta.mutable_data(),
                           sums.data(), dy.data(), xhat.data(), inv_std.data(), gamma.data(), B, F,
                           training);
        return py::make_tuple(dx, dgamma, dbeta);
      },
      py::arg("dy"), py::arg("cache"), py::arg("gamma"), py::arg("training"));

  m.def(
      "layernorm_forward",
      [](const Array<T>& x, const Array<T>& gamma, const Array<T>& beta, double eps) {
        const int B = rows_of(x, "x", -1), F = static_cast<int>(x.shape(1));
        check_size(gamma, "gamma", F);
        check_size(beta, "beta", F);
        Array<T> y({B, F}), xhat({B, F}), inv_std(B);
        layernorm_forward(y.mutable_data(), xhat.mutable_data(), inv_std.mutable_data(), x.data(),
                          gamma.data(), beta.data(), B, F, eps);
        return py::make_tuple(y, py::make_tuple(xhat, inv_std));
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("eps"));

  m.def(
      "layernorm_backward",
      [](const Array<T>& dy, const py::tuple& cache, const Array<T>& gamma) {
        if (cache.size() != 2) throw std::invalid_argument("cache must be (xhat, inv_std)");
        const Array<T> xhat = cache[0].cast<Array<T>>(), inv_std = cache[1].cast<Array<T>>();
        const int B = rows_of(dy, "dy", -1), F = static_cast<int>(dy.shape(1));
        if (rows_of(xhat, "xhat", F) != B) throw std::invalid_argument("xhat must have dy's shape");
        check_size(inv_std, "inv_std", B);
        check_size(gamma, "gamma", F);
        Array<T> dx({B, F}), dgamma(F), dbeta(F);
        std::fill_n(dgamma.mutable_data(), F, T(0));
        std::fill_n(dbeta.mutable_data(), F, T(0));
        layernorm_backward(dx.mutable_data(), dgamma.mutable_data(), dbeta.mutable_data(),
                           dy.data(), xhat.data(), inv_std.data(), gamma.data(), B, F);
        return py::make_tuple(dx, dgamma, dbeta);
      },
      py::arg("dy"), py::arg("cache"), py::arg("gamma"));

  m.def(
      "dropout_forward",
      [](const Array<T>& x, double p, std::uint64_t seed, std::uint64_t step, std::uint64_t layer,
         bool training) -> py::tuple {
        if (!(p >= 0 && p < 1)) throw std::invalid_argument("p must lie in [0, 1)");
        const std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
        Array<T> y(shape), mask(shape);
        const bool drawn = dropout_forward(y.mutable_data(), mask.mutable_data(), x.data(),
                                           std::int64_t(x.size()), p, seed, step, layer, training);
        if (!drawn) return py::make_tuple(y, py::none());
        return py::make_tuple(y, mask);
      },
      py::arg("x"), py::arg("p"), py::arg("seed"), py::arg("step"), py::arg("layer"),
      py::arg("training"));

  m.def(
      "dropout_backward",
      [](const Array<T>& dy, const py::object& mask) {
        Array<T> dx(std::vector<py::ssize_t>(dy.shape(), dy.shape() + dy.ndim()));
        if (mask.is_none()) {
          dropout_backward(dx.mutable_data(), dy.data(), static_cast<const T*>(nullptr),
                           std::int64_t(dy.size()));
        } else {
          const Array<T> m = mask.cast<Array<T>>();
          if (m.size() != dy.size()) throw std::invalid_argument("mask must have dy's size");
          dropout_backward(dx.mutable_data(), dy.data(), m.data(), std::int64_t(dy.size()));
        }
        return dx;
      },
      py::arg("dy"), py::arg("mask"));
}

void register_layers(py::module_& m) {  // m is _core.testing
  def_layers<double>(m);  // first, so that conversions from other dtypes land on float64
  def_layers<float>(m);
}

}  // namespace mlpcore::bind
