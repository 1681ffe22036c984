// Quantized int8 inference. Twin: reference/quantized.py.
//
// A Dense layer z = x W + b runs as
//   acc[m, n] = sum_k xq[m, k] * wq[k, n]                       (int32, exact)
//   z[m, n]   = float(acc[m, n] - zp * colsum[n]) * scale[n] + bias[n]   (float32, no FMA)
// with wq int8 in [-127, 127] (symmetric, one scale per output column), xq the layer's
// input quantized with a static (calibrated) scale s and zero point zp:
//   xq = nearbyint(clamp(x * inv_s, -zp, 127 - zp)) + zp        (float32, round half to even)
// colsum[n] = sum_k wq[k, n], scale[n] = s * s_w[n]; a folded batch norm lives in wq and bias.
//
// Value ranges, so that no kernel path saturates and all of them (and the NumPy twin) give
// bitwise the same int32 accumulators: activations are 7-bit, xq in [0, 127]. AVX2 has no
// u8 x s8 dot product into int32; vpmaddubsw adds two u8 * s8 products into a saturating
// int16, and with xq <= 127, |wq| <= 127 a pair is at most 2 * 127 * 127 = 32258 < 32767,
// so it never saturates; vpmaddwd (with ones) then widens exactly. VNNI's vpdpbusd sums four
// products into int32 without saturation. A sum over K stays below 2^31 for K <= 133000
// (127 * 127 * K), which build() checks.
//
// Packed weights: 16-column panels, panel j holding columns 16j..16j+15 as [K4p][16][4] int8
// (4 consecutive k of one column adjacent: the operand layout of vpdpbusd, of vpmaddubsw +
// vpmaddwd, and AMX's B tile, 16 of these rows = 64 k per tile), zero padded in n and in k
// up to K4p = 16 * ceil(K / 64) rows (the VNNI and AVX2 loops stop at K4 = ceil(K / 4)).
// Packed once when the model is built.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mlpcore/activations.hpp"
#include "mlpcore/losses.hpp"

namespace mlpcore::quantized {

// The kernels, best first. The best one the CPU has is used unless another is forced
// (set_kernel, or the environment variable MLPCORE_INT8_KERNEL = amx | vnni | avx2 | portable,
// read once at the first use). Amx needs AMX-TILE, AMX-INT8 and AVX-512 VNNI and the Linux
// kernel's grant of the tile state (arch_prctl ARCH_REQ_XCOMP_PERM, asked once); without the
// grant it is unsupported and VNNI is the best.
enum class Kernel { Amx, Vnni, Avx2, Portable };
const char* kernel_name(Kernel k);
Kernel kernel_from_name(const std::string& name);  // std::invalid_argument if unknown
bool kernel_supported(Kernel k);                   // whether this CPU can run it
Kernel current_kernel();
void set_kernel(Kernel k);  // std::invalid_argument if the CPU lacks it

constexpr int MAX_K = 133000;  // 127 * 127 * MAX_K < 2^31

struct PackedWeights {
  int K = 0, N = 0, K4 = 0, K4p = 0, n_panels = 0;
  std::vector<std::int8_t> data;     // (n_panels, K4p, 16, 4)
  std::vector<std::int32_t> colsum;  // (n_panels * 16,), zero in the padding
};

// w is (K, N) row-major, values in [-127, 127] (std::invalid_argument otherwise).
PackedWeights pack_weights(const std::int8_t* w, int K, int N);

// The padded row length of a quantized input of K features: 4 * K4p, a multiple of 64 (an
// AMX tile row).
inline int padded_k(int K) {
  return (K + 63) / 64 * 64;
}

// acc (M, ldc) int32 = a (M, lda) @ w, columns [0, 16 * n_panels); a holds xq in [0, 127]
// with zeros from K to padded_k(K). Runs on the calling thread with kernel k.
void gemm_acc(Kernel k, std::int32_t* acc, int ldc, const std::uint8_t* a, int lda,
              const PackedWeights& w, int M);

// One step of the float chain between two Dense layers (or before the first, after the last).
struct Step {
  bool affine = false;  // false: activation act(param)
  Activation act = Activation::Identity;
  double param = 0.0;
  std::vector<float> a, c;  // affine: h = z * a + c per column (an unfolded batch norm)
};

struct QDense {
  PackedWeights w;
  std::vector<float> scale, bias;  // (N,)
  int zp = 0;                      // the input's zero point, in [0, 127]
  float inv_s = 1.0f;              // 1 / the input's scale, as float32
  std::vector<Step> after;         // the float steps after this layer
};

// Measuring: run_peak(what, iters) runs a register-only loop of independent
// multiply-accumulates (what = "vnni512", "avx2_int8", "fma512", "fma256") on the calling
// thread and returns a value to keep it alive; each iteration is
// peak_macs_per_iteration(what) products. std::invalid_argument if the CPU lacks it.
double run_peak(const std::string& what, long iters);
double peak_macs_per_iteration(const std::string& what);

class QuantizedNetwork {
 public:
  QuantizedNetwork(int n_in, const std::string& loss);
  // Appending in layer order; steps before the first dense form the prelude.
  void add_dense(const std::int8_t* wq, int K, int N, const float* scale, const float* bias, int zp,
                 float inv_s);
  void add_activation(const std::string& name, double param);
  void add_affine(const float* a, const float* c, int n);

  int n_in() const { return n_in_; }
  int n_out() const;
  int n_dense() const { return int(layers_.size()); }
  Loss loss() const { return loss_; }

  // out (M, n_out) float32 from X (M, n_in): the output activation when probabilities,
  // else the last layer's float z (after the steps after it). Threads: row blocks of 64
  // rows as pool tasks, or, for fewer rows, column panels of the large layers; every
  // output element is computed the same way whatever the cut, so results do not depend on
  // the thread count. Returns false when X holds NaN or infinity (checked as it is read; the
  // outputs are then meaningless).
  bool predict(float* out, const float* X, int M, bool probabilities) const;

  // For tests: the quantized input (M, padded_k) and the int32 accumulators (M, N) of
  // dense layer i, on the calling thread.
  void trace(int i, std::vector<std::uint8_t>& xq, std::vector<std::int32_t>& acc, const float* X,
             int M) const;

  const QDense& layer(int i) const { return layers_.at(std::size_t(i)); }

 private:
  bool run_block(float* out, const float* X, int M, bool probabilities, bool split_columns,
                 int stop_at, std::vector<std::uint8_t>* xq_out,
                 std::vector<std::int32_t>* acc_out) const;
  int n_in_;
  Loss loss_;
  std::vector<Step> prelude_;
  std::vector<QDense> layers_;
};

}  // namespace mlpcore::quantized
