// gemm and gemv (BLAS and naive), the thread pool's own check and the cost of moving cache
// lines between two cores (in _core.testing); the thread count (in _core).
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "mlpcore/fp_mode.hpp"
#include "mlpcore/blas.hpp"
#include "mlpcore/parallel.hpp"
#include "mlpcore/transpose.hpp"

namespace mlpcore::bind {

// transpose with leading dimensions: src (rows, lds) holds a (rows, cols) matrix in its first
// cols columns; returns dst (cols, ldd) with that matrix's transpose in its first rows columns
// and NaN in the others (to show that nothing beyond them is written).
template <typename T>
static void def_transpose(py::module_& m) {
  m.def(
      "transpose",
      [](const Array<T>& src_in, int cols, int ldd) {
        const Array<T> src = aligned(src_in);
        const int rows = rows_of(src, "src", -1), lds = static_cast<int>(src.shape(1));
        if (cols < 1 || cols > lds)
          throw std::invalid_argument("transpose: cols must lie in [1, " + std::to_string(lds) +
                                      "] (src's columns), got " + std::to_string(cols));
        if (ldd < rows)
          throw std::invalid_argument("transpose: ldd must be >= " + std::to_string(rows) +
                                      " (src's rows), got " + std::to_string(ldd));
        Array<T> dst({cols, ldd});
        std::fill_n(dst.mutable_data(), size_t(cols) * size_t(ldd),
                    std::numeric_limits<T>::quiet_NaN());
        transpose(dst.mutable_data(), ldd, src.data(), lds, rows, cols);
        return dst;
      },
      py::arg("src"), py::arg("cols"), py::arg("ldd"),
      "src[:, :cols].T into the first src.shape[0] columns of a (cols, ldd) array of NaN");
}

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
        throw std::invalid_argument("gemm: inner dimensions differ: a gives " + std::to_string(K) +
                                    ", b gives " + std::to_string(Kb));
      Array<T> c({M, N});
      const Trans ta = trans_a ? Trans::Yes : Trans::No, tb = trans_b ? Trans::Yes : Trans::No;
      {
        WithoutGil release;
        (naive ? gemm_naive<T> : gemm<T>)(ta, tb, M, N, K, T(1), a.data(), ca, b.data(), cb, T(0),
                                          c.mutable_data(), N);
      }
      return c;
    };
  };
  m.def("gemm", product(false), py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, "op(a) @ op(b) through the bundled OpenBLAS");
  m.def("gemm_naive", product(true), py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, "op(a) @ op(b) by plain loops (the test reference)");
  // a (M, N), x (N,) or (M,) with trans; returns a x or a^T x
  m.def(
      "gemv",
      [](const Array<T>& a_in, const Array<T>& x_in, bool trans) {
        const Array<T> a = aligned(a_in), x = aligned(x_in);
        const int M = rows_of(a, "a", -1), N = static_cast<int>(a.shape(1));
        if (x.ndim() != 1 || x.shape(0) != (trans ? M : N))
          throw std::invalid_argument("gemv: x must have shape (" + std::to_string(trans ? M : N) +
                                      ",)");
        Array<T> y(std::vector<py::ssize_t>{trans ? N : M});
        {
          WithoutGil release;
          gemv(trans ? Trans::Yes : Trans::No, M, N, T(1), a.data(), N, x.data(), T(0),
               y.mutable_data());
        }
        return y;
      },
      py::arg("a"), py::arg("x"), py::arg("trans") = false, "op(a) @ x through the BLAS");
}

// parallel::run on n tasks; task i adds 1 to counts[i] (and runs an inner run of `inner`
// tasks, which must run serially on the same thread); task fail_at throws.
// Returns counts (n,), the number of distinct threads that ran tasks, and the message of the
// exception run rethrew (None if none).
py::tuple parallel_counts(int n, int inner, int fail_at) {
  if (n < 0 || inner < 0) throw std::invalid_argument("n and inner must be >= 0");
  std::vector<std::atomic<long long>> counts(static_cast<std::size_t>(n));
  std::mutex lock;
  std::set<std::thread::id> ids;
  auto task = [&](int i) {
    {
      std::lock_guard<std::mutex> g(lock);
      ids.insert(std::this_thread::get_id());
    }
    if (i == fail_at) throw std::invalid_argument("task " + std::to_string(i) + " failed");
    auto sub = [&](int) { counts[std::size_t(i)].fetch_add(1); };
    parallel::run(inner, sub);
    counts[std::size_t(i)].fetch_add(1);
    volatile double spin = 0;  // a little work, so that workers get to claim tasks
    for (int k = 0; k < 20000; ++k) spin = spin + k;
  };
  py::object error = py::none();
  try {
    WithoutGil release;
    parallel::run(n, task);
  } catch (const std::invalid_argument& e) {
    error = py::str(e.what());
  }
  Array<long long> out(std::vector<py::ssize_t>{n});
  for (int i = 0; i < n; ++i) out.mutable_data()[i] = counts[std::size_t(i)].load();
  return py::make_tuple(out, static_cast<int>(ids.size()), error);
}

// What sharing a training step between two cores costs in data movement, for bench/: two
// threads on the first two CPUs of the process take turns; each round the writer updates
// one float in every 64-byte line of a buffer of `kb` KiB that the reader read the round
// before (so every line must be taken from the other core's cache), then the reader reads
// it back (every line now in the writer's cache) and reads a buffer of its own as the
// in-cache reference. Medians over the rounds, in ns per line.
py::dict cross_core_lines(int kb, int rounds) {
  if (kb < 1 || kb > 65536 || rounds < 1)
    throw std::invalid_argument("kb must be in [1, 65536] and rounds >= 1");
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2)
    throw std::runtime_error("cross_core_lines needs two CPUs");
  int cpus[2], found = 0;
  for (int c = 0; c < CPU_SETSIZE && found < 2; ++c)
    if (CPU_ISSET(c, &allowed)) cpus[found++] = c;
  const std::size_t lines = std::size_t(kb) * 1024 / 64, stride = 16;  // 16 floats per line
  std::vector<float> shared(lines * stride, 1.f), own(lines * stride, 1.f);
  std::atomic<int> turn{0};
  const std::size_t n_rounds = std::size_t(rounds);
  std::vector<double> wrote(n_rounds), read_other(n_rounds), read_own(n_rounds);
  using clock = std::chrono::steady_clock;
  const auto ns = [](clock::duration d) {
    return std::chrono::duration<double, std::nano>(d).count();
  };
  const auto pin = [](int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
  };
  const auto sum = [&](const std::vector<float>& v) {  // 4 chains: bound by the loads
    float a = 0, b = 0, c = 0, d = 0;
    for (std::size_t i = 0; i + 3 * stride < v.size(); i += 4 * stride) {
      a += v[i];
      b += v[i + stride];
      c += v[i + 2 * stride];
      d += v[i + 3 * stride];
    }
    return a + b + c + d;
  };
  std::atomic<float> sink{0};
  {
    WithoutGil release;
    std::thread writer([&] {
      pin(cpus[0]);
      for (int r = 0; r < rounds; ++r) {
        while (turn.load() != 0) {
        }
        const auto t0 = clock::now();
        for (std::size_t i = 0; i < shared.size(); i += stride) shared[i] += 1.f;
        wrote[std::size_t(r)] = ns(clock::now() - t0) / double(lines);
        turn.store(1);
      }
    });
    std::thread reader([&] {
      pin(cpus[1]);
      float acc = 0;
      for (int r = 0; r < rounds; ++r) {
        while (turn.load() != 1) {
        }
        const auto t0 = clock::now();
        acc += sum(shared);
        const auto t1 = clock::now();
        acc += sum(own);
        const auto t2 = clock::now();
        read_other[std::size_t(r)] = ns(t1 - t0) / double(lines);
        read_own[std::size_t(r)] = ns(t2 - t1) / double(lines);
        turn.store(0);
      }
      sink.store(acc);
    });
    writer.join();
    reader.join();
  }
  const auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  py::dict out;
  out["lines"] = lines;
  out["cpus"] = py::make_tuple(cpus[0], cpus[1]);
  out["write_lines_the_other_core_read_ns"] = median(wrote);
  out["read_lines_the_other_core_wrote_ns"] = median(read_other);
  out["read_own_lines_ns"] = median(read_own);
  return out;
}

void register_gemm(py::module_& testing) {
  def_gemm<float>(testing);
  def_gemm<double>(testing);
  def_transpose<float>(testing);
  def_transpose<double>(testing);
  testing.def(
      "blas_core_name", [] { return std::string(blas_core_name()); },
      "the kernel family the bundled OpenBLAS picked for this CPU");
  testing.def(
      "gemm_copies_transposed_b",
      [](int M, int N, int K, bool trans_a, bool trans_b, const std::string& dtype) {
        const Trans ta = trans_a ? Trans::Yes : Trans::No, tb = trans_b ? Trans::Yes : Trans::No;
        if (dtype == "float32") return gemm_copies_transposed_b<float>(ta, tb, M, N, K);
        if (dtype == "float64") return gemm_copies_transposed_b<double>(ta, tb, M, N, K);
        throw std::invalid_argument(
            "gemm_copies_transposed_b: dtype must be 'float32' or "
            "'float64', got '" +
            dtype + "'");
      },
      py::arg("M"), py::arg("N"), py::arg("K"), py::arg("trans_a") = false,
      py::arg("trans_b") = true, py::arg("dtype") = "float32",
      "whether a gemm of these shapes runs on a copy of op(b) (small (No, Trans) products on "
      "the BLAS cores with small-matrix kernels, blas.cpp)");
  testing.def("parallel_counts", &parallel_counts, py::arg("n"), py::arg("inner") = 0,
              py::arg("fail_at") = -1,
              "runs n counting tasks on the core's pool: (counts (n,), threads used, error)");
  testing.def("cross_core_lines", &cross_core_lines, py::arg("kb"), py::arg("rounds") = 2000,
              "ns per 64-byte line to write lines another core read, to read lines it wrote, "
              "and to read lines in this core's own cache (medians over rounds)");
}

void register_threads(py::module_& m) {
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) throw std::invalid_argument("n must be >= 1, got " + std::to_string(n));
        if (n > parallel::MAX_THREADS)
          throw std::invalid_argument("n=" + std::to_string(n) + " exceeds the maximum of " +
                                      std::to_string(parallel::MAX_THREADS) + " threads");
        set_num_threads(n);
      },
      py::arg("n"),
      "Sets the number of threads of the core's pool (the BLAS runs on one); "
      "raises ValueError above the maximum.");
  m.def("get_num_threads", &get_num_threads, "The number of threads of the core's pool.");
  m.def("set_flush_denormals", &set_flush_denormals, py::arg("on"),
        "Whether engine calls flush subnormal numbers to zero (fp_mode.hpp).");
  m.def("get_flush_denormals", &flush_denormals);
}

}  // namespace mlpcore::bind

// For threadpoolctl (mlpcore/_threads.py registers a controller that calls these): plain C
// symbols, visible although pybind11 hides the module's other symbols.
extern "C" __attribute__((visibility("default"))) int mlpcore_get_num_threads() {
  return mlpcore::get_num_threads();
}
extern "C" __attribute__((visibility("default"))) void mlpcore_set_num_threads(int n) {
  const int most = mlpcore::parallel::MAX_THREADS;  // threadpoolctl may ask for more
  mlpcore::set_num_threads(n < 1 ? 1 : n > most ? most : n);
}
