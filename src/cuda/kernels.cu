// The CUDA backend's kernels: the element-wise passes, reductions and random
// fills that cuda.hpp declares, for float and double. This is the one file
// of ctd that nvcc compiles (with --extended-lambda), into the ctd::cuda
// target's static library.
//
// Element-wise passes are one kernel each: a grid-stride loop over the
// elements of a (rows x cols) view, calling a device lambda with (i, j), so
// strided views (the r/u halves of the GRU gates, time-step blocks) need no
// copies. Reductions sum in double in a fixed order (block partials, then
// one block over the partials), so the same inputs give the same bits.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include <cuda_runtime.h>

#include "ctd/backend/cuda/cuda.hpp"
#include "ctd/core/ar1_kl.hpp"

namespace ctd {
namespace {

constexpr int block_size = 256;
// Enough blocks to fill an H100/H200 (132 SMs x 2048 threads); larger views
// take several grid-stride rounds.
constexpr Index max_blocks = 2048;

template <class S>
__device__ S& at(const MatrixView<S>& v, Index i, Index j) {
  return v.data[i + j * v.ld];
}
template <class S>
__device__ const S& at(const ConstView<S>& v, Index i, Index j) {
  return v.data[i + j * v.ld];
}

__device__ float device_tanh(float x) { return tanhf(x); }
__device__ double device_tanh(double x) { return tanh(x); }
__device__ float device_sqrt(float x) { return sqrtf(x); }
__device__ double device_sqrt(double x) { return sqrt(x); }
__device__ float device_exp(float x) { return expf(x); }
__device__ double device_exp(double x) { return exp(x); }
__device__ float device_log(float x) { return logf(x); }
__device__ double device_log(double x) { return log(x); }
// sigma(x) through tanh, as the CPU backend computes it.
template <class S>
__device__ S device_sigmoid(S x) {
  return S(0.5) * (device_tanh(S(0.5) * x) + S(1));
}

// ---- element-wise passes ---------------------------------------------------

template <class F>
__global__ void for_each_element(F f, Index rows, Index total) {
  const Index stride = Index(gridDim.x) * blockDim.x;
  for (Index k = Index(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += stride) f(k % rows, k / rows);
}

// Runs f(i, j) for every element of a (rows x cols) view.
template <class F>
void for_each(CudaContext& ctx, Index rows, Index cols, F f, const char* name) {
  const Index total = rows * cols;
  if (total == 0) return;
  const Index blocks = std::min<Index>((total + block_size - 1) / block_size, max_blocks);
  for_each_element<<<unsigned(blocks), block_size, 0, ctx.stream()>>>(f, rows, total);
  CTD_CUDA_CHECK_LAUNCH(name);
}

// ---- reductions -------------------------------------------------------------

// Two sums at once: masked_mse needs the mask count and the squared error.
struct Sums {
  double first = 0, second = 0;
};

// Tree sum over the block in shared memory; every thread gets the totals.
__device__ Sums block_sum(Sums s) {
  __shared__ double first[block_size], second[block_size];
  const int t = threadIdx.x;
  first[t] = s.first;
  second[t] = s.second;
  __syncthreads();
  for (int half = block_size / 2; half > 0; half /= 2) {
    if (t < half) {
      first[t] += first[t + half];
      second[t] += second[t + half];
    }
    __syncthreads();
  }
  return {first[0], second[0]};
}

// Pass 1: block b sums f over its grid-stride share into partials[2b, 2b+1].
template <class F>
__global__ void reduce_blocks(F f, Index rows, Index total, double* partials) {
  Sums s;
  const Index stride = Index(gridDim.x) * blockDim.x;
  for (Index k = Index(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += stride) {
    const Sums v = f(k % rows, k / rows);
    s.first += v.first;
    s.second += v.second;
  }
  s = block_sum(s);
  if (threadIdx.x == 0) {
    partials[2 * blockIdx.x] = s.first;
    partials[2 * blockIdx.x + 1] = s.second;
  }
}

// Pass 2: one block sums `count` partial pairs into result[0, 1].
__global__ void reduce_partials(const double* partials, int count, double* result) {
  Sums s;
  for (int k = threadIdx.x; k < count; k += block_size) {
    s.first += partials[2 * k];
    s.second += partials[2 * k + 1];
  }
  s = block_sum(s);
  if (threadIdx.x == 0) {
    result[0] = s.first;
    result[1] = s.second;
  }
}

// Sums f(i, j) -> Sums over a (rows x cols) view into ctx.reduction_result(),
// on the device: a following kernel can use the sums without a host trip.
template <class F>
void reduce_on_device(CudaContext& ctx, Index rows, Index cols, F f, const char* name) {
  const Index total = rows * cols;
  const int blocks =
      int(std::min<Index>((total + block_size - 1) / block_size, CudaContext::max_reduction_blocks));
  if (blocks > 0) {
    reduce_blocks<<<blocks, block_size, 0, ctx.stream()>>>(f, rows, total, ctx.reduction_partials());
    CTD_CUDA_CHECK_LAUNCH(name);
  }
  reduce_partials<<<1, block_size, 0, ctx.stream()>>>(ctx.reduction_partials(), blocks, ctx.reduction_result());
  CTD_CUDA_CHECK_LAUNCH("reduce_partials");
}

// The sums of the last reduce_on_device, on the host (waits for them).
Sums fetch_sums(CudaContext& ctx) {
  CTD_CUDA_CHECK(cudaMemcpyAsync(ctx.host_result(), ctx.reduction_result(), 2 * sizeof(double),
                                 cudaMemcpyDeviceToHost, ctx.stream()));
  CTD_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
  return {ctx.host_result()[0], ctx.host_result()[1]};
}

// Row sums: a block covers 32 rows; its 32 x 32 threads stride over the
// columns (a warp reads 32 consecutive rows of one column: coalesced), then
// the 32 partial sums of each row are added in order.
constexpr int row_tile = 32;

template <class S>
__global__ void add_row_sums_kernel(ConstView<S> x, MatrixView<S> y) {
  __shared__ double partial[row_tile][row_tile + 1];
  const Index i = Index(blockIdx.x) * row_tile + threadIdx.x;
  double s = 0;
  if (i < x.rows)
    for (Index j = threadIdx.y; j < x.cols; j += row_tile) s += at(x, i, j);
  partial[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && i < x.rows) {
    double total = 0;
    for (int k = 0; k < row_tile; ++k) total += partial[k][threadIdx.x];
    y.data[i] += S(total);
  }
}

// Column norms: one warp per column (coalesced reads down the column), the
// lanes' sums combined by shuffles.
constexpr int warp_size = 32;

template <class S>
__global__ void column_sum_squares_kernel(ConstView<S> x, MatrixView<S> y) {
  const int lane = threadIdx.x % warp_size;
  const Index warps_per_block = blockDim.x / warp_size;
  const Index stride = Index(gridDim.x) * warps_per_block;
  // j is the same in every lane of a warp, so whole warps enter the shuffles.
  for (Index j = Index(blockIdx.x) * warps_per_block + threadIdx.x / warp_size; j < x.cols; j += stride) {
    double s = 0;
    for (Index i = lane; i < x.rows; i += warp_size) {
      const double v = at(x, i, j);
      s += v * v;
    }
    for (int offset = warp_size / 2; offset > 0; offset /= 2) s += __shfl_down_sync(0xffffffffu, s, offset);
    if (lane == 0) y.data[j * y.ld] = S(s);
  }
}

// ---- random draws ------------------------------------------------------------
// Where a random fill's draws come from. Eagerly, from the Rng's seed and
// counters: draw for draw the CPU backend's numbers. While the context's
// stream is being captured into a CUDA graph, seed and counter become
// constants of the recorded kernel, and every replay would draw the same
// numbers again (the same dropout masks and sampling noise at every
// training step). So a recorded fill also reads ctx.replay_counter() on the
// device, and the recording advances that counter by one per replay (a
// one-thread kernel recorded before its first fill); replay r draws from
// the seed mixed with r. The host counters still advance while recording,
// so the fills of one replay differ from each other, and the counter only
// grows, per context, so no two replays (of one graph or of several) draw
// from the same seed. Mixing into the seed, not the counter, keeps a
// replay's draws apart from any eager draw of the same Rng.
struct DrawSource {
  std::uint64_t seed;
  const std::uint64_t* replay;  // null: an eager fill

  __device__ std::uint64_t seed_now() const {
    // Any fixed constant would do: it keeps the replays' seeds apart from
    // those Rng::split derives with the same bits_at (seed, counter).
    return replay ? Rng::bits_at(seed ^ 0x5265706C61794D78ULL, *replay) : seed;
  }
};

__global__ void advance_replay_counter(std::uint64_t* counter) { ++*counter; }

DrawSource draw_source(CudaContext& ctx, std::uint64_t seed) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  unsigned long long capture_id = 0;
  CTD_CUDA_CHECK(cudaStreamGetCaptureInfo(ctx.stream(), &status, &capture_id));
  if (status != cudaStreamCaptureStatusActive) return {seed, nullptr};
  if (ctx.first_draw_of_capture(capture_id)) {
    advance_replay_counter<<<1, 1, 0, ctx.stream()>>>(ctx.replay_counter());
    CTD_CUDA_CHECK_LAUNCH("advance_replay_counter");
  }
  return {seed, ctx.replay_counter()};
}

// ---- LFADS helpers -------------------------------------------------------------

// Trial b's series of dimension i in a (dims x steps*trials) view of
// time-major blocks (column t * trials + b).
template <class T>
__device__ Series<T> trial_series(T* data, Index ld, Index i, Index b, Index trials) {
  return {data + i + b * ld, trials * ld};
}

}  // namespace

// ---- storage ------------------------------------------------------------------

template <class S>
void cuda::fill(context& ctx, MatrixView<S> y, S value) {
  for_each(ctx, y.rows, y.cols, [=] __device__(Index i, Index j) { at(y, i, j) = value; }, "fill");
}

// ---- dense linear algebra (element-wise part) -----------------------------------

template <class S>
void cuda::axpy(context& ctx, S alpha, ConstView<S> x, MatrixView<S> y) {
  assert(x.rows == y.rows && x.cols == y.cols);
  for_each(ctx, y.rows, y.cols, [=] __device__(Index i, Index j) { at(y, i, j) += alpha * at(x, i, j); }, "axpy");
}

template <class S>
void cuda::scale(context& ctx, S alpha, MatrixView<S> y) {
  for_each(ctx, y.rows, y.cols, [=] __device__(Index i, Index j) { at(y, i, j) *= alpha; }, "scale");
}

// ---- reductions and broadcasts --------------------------------------------------

template <class S>
S cuda::sum_squares(context& ctx, ConstView<S> x) {
  reduce_on_device(
      ctx, x.rows, x.cols,
      [=] __device__(Index i, Index j) -> Sums {
        const double v = at(x, i, j);
        return {v * v, 0.0};
      },
      "sum_squares");
  return S(fetch_sums(ctx).first);
}

template <class S>
S cuda::dot(context& ctx, ConstView<S> x, ConstView<S> y) {
  assert(x.rows == y.rows && x.cols == y.cols);
  reduce_on_device(
      ctx, x.rows, x.cols,
      [=] __device__(Index i, Index j) -> Sums { return {double(at(x, i, j)) * double(at(y, i, j)), 0.0}; },
      "dot");
  return S(fetch_sums(ctx).first);
}

template <class S>
void cuda::add_row_sums(context& ctx, ConstView<S> x, MatrixView<S> y) {
  assert(y.rows == x.rows);
  if (x.rows == 0 || x.cols == 0) return;
  const unsigned blocks = unsigned((x.rows + row_tile - 1) / row_tile);
  add_row_sums_kernel<<<blocks, dim3(row_tile, row_tile), 0, ctx.stream()>>>(x, y);
  CTD_CUDA_CHECK_LAUNCH("add_row_sums");
}

template <class S>
void cuda::broadcast_columns(context& ctx, ConstView<S> v, MatrixView<S> y) {
  assert(v.rows == y.rows);
  for_each(ctx, y.rows, y.cols, [=] __device__(Index i, Index j) { at(y, i, j) = v.data[i]; },
           "broadcast_columns");
}

// The mask count and the squared error in one reduction; the gradient pass
// reads the count on the device, so the only host trip is the returned loss.
template <class S>
S cuda::masked_mse(context& ctx, ConstView<S> out, ConstView<S> target, ConstView<S> mask, MatrixView<S> dout) {
  assert(out.rows == target.rows && out.cols == target.cols && out.rows == mask.rows && out.cols == mask.cols);
  assert(out.rows == dout.rows && out.cols == dout.cols);
  reduce_on_device(
      ctx, out.rows, out.cols,
      [=] __device__(Index i, Index j) -> Sums {
        const double m = at(mask, i, j), d = double(at(out, i, j)) - double(at(target, i, j));
        return {m, m * d * d};
      },
      "masked_mse");
  const double* sums = ctx.reduction_result();
  for_each(
      ctx, dout.rows, dout.cols,
      [=] __device__(Index i, Index j) {
        const double count = sums[0];
        // Nothing is written for an empty mask: the host throws below.
        if (count > 0) at(dout, i, j) = (S(2) / S(count)) * ((at(out, i, j) - at(target, i, j)) * at(mask, i, j));
      },
      "masked_mse_gradient");
  const Sums s = fetch_sums(ctx);
  require(s.first > 0, "masked_mse: the mask selects no entries");
  return S(s.second / s.first);
}

// ---- optimiser ---------------------------------------------------------------

template <class S>
void cuda::adam_update(context& ctx, MatrixView<S> x, ConstView<S> g, MatrixView<S> m, MatrixView<S> v, S lr,
                       S b1, S b2, S eps, Index step) {
  // The bias corrections on the host, computed as the CPU backend does.
  const S c1 = S(1) / (S(1) - std::pow(b1, S(step + 1)));
  const S c2 = S(1) / (S(1) - std::pow(b2, S(step + 1)));
  for_each(
      ctx, x.rows, x.cols,
      [=] __device__(Index i, Index j) {
        const S gi = at(g, i, j);
        S& mi = at(m, i, j);
        S& vi = at(v, i, j);
        mi = b1 * mi + (S(1) - b1) * gi;
        vi = b2 * vi + (S(1) - b2) * (gi * gi);
        at(x, i, j) -= lr * (mi * c1) / (device_sqrt(vi * c2) + eps);
      },
      "adam_update");
}

// ---- random fills --------------------------------------------------------------

// Element (i, j) takes draw i + j * rows of the counter, as on the CPU.
template <class S>
void cuda::fill_normal(context& ctx, MatrixView<S> y, S mean, S stddev, Rng& rng) {
  if (y.size() == 0) return;
  const DrawSource source = draw_source(ctx, rng.seed);
  const std::uint64_t first = rng.counter;
  const Index rows = y.rows;
  for_each(
      ctx, y.rows, y.cols,
      [=] __device__(Index i, Index j) {
        const std::uint64_t seed = source.seed_now();
        at(y, i, j) = mean + stddev * static_cast<S>(Rng::normal_at(seed, first + std::uint64_t(i + j * rows)));
      },
      "fill_normal");
  rng.counter += std::uint64_t(y.size());
}

template <class S>
void cuda::fill_dropout_mask(context& ctx, MatrixView<S> mask, S keep_rate, Rng& rng) {
  if (keep_rate >= S(1)) return fill(ctx, mask, S(1));  // no draws: the counter stays
  if (mask.size() == 0) return;
  const DrawSource source = draw_source(ctx, rng.seed);
  const std::uint64_t first = rng.counter;
  const Index rows = mask.rows;
  const S kept = S(1) / keep_rate;
  for_each(
      ctx, mask.rows, mask.cols,
      [=] __device__(Index i, Index j) {
        const std::uint64_t seed = source.seed_now();
        at(mask, i, j) = Rng::uniform_at(seed, first + std::uint64_t(i + j * rows)) < double(keep_rate) ? kept : S(0);
      },
      "fill_dropout_mask");
  rng.counter += std::uint64_t(mask.size());
}

// ---- fused cell passes ------------------------------------------------------------

template <class S>
void cuda::tanh(context& ctx, ConstView<S> x, MatrixView<S> y) {
  assert(x.rows == y.rows && x.cols == y.cols);
  for_each(ctx, y.rows, y.cols, [=] __device__(Index i, Index j) { at(y, i, j) = device_tanh(at(x, i, j)); }, "tanh");
}

template <class S>
void cuda::tanh_backward(context& ctx, ConstView<S> dh, ConstView<S> h, MatrixView<S> dz) {
  for_each(
      ctx, h.rows, h.cols,
      [=] __device__(Index i, Index j) {
        const S hij = at(h, i, j);
        at(dz, i, j) = at(dh, i, j) * (S(1) - hij * hij);
      },
      "tanh_backward");
}

template <class S>
void cuda::gru_gates(context& ctx, MatrixView<S> ru, ConstView<S> h, MatrixView<S> rh, S bfg) {
  const Index n = h.rows;
  for_each(
      ctx, h.rows, h.cols,
      [=] __device__(Index i, Index j) {
        S& r = at(ru, i, j);
        S& u = at(ru, i + n, j);
        r = device_sigmoid(r);
        u = device_sigmoid(u + bfg);
        at(rh, i, j) = r * at(h, i, j);
      },
      "gru_gates");
}

template <class S>
void cuda::gru_state(context& ctx, MatrixView<S> c, ConstView<S> u, ConstView<S> h, MatrixView<S> h_next) {
  for_each(
      ctx, h.rows, h.cols,
      [=] __device__(Index i, Index j) {
        S& cij = at(c, i, j);
        cij = device_tanh(cij);
        const S uij = at(u, i, j);
        at(h_next, i, j) = uij * at(h, i, j) + (S(1) - uij) * cij;
      },
      "gru_state");
}

template <class S>
void cuda::gru_candidate_backward(context& ctx, ConstView<S> dh_next, ConstView<S> h, ConstView<S> u,
                                  ConstView<S> c, MatrixView<S> dc_pre, MatrixView<S> du_pre, MatrixView<S> dh) {
  for_each(
      ctx, h.rows, h.cols,
      [=] __device__(Index i, Index j) {
        const S d = at(dh_next, i, j), uij = at(u, i, j), cij = at(c, i, j);
        at(dc_pre, i, j) = d * (S(1) - uij) * (S(1) - cij * cij);
        at(du_pre, i, j) = d * (at(h, i, j) - cij) * uij * (S(1) - uij);
        at(dh, i, j) += d * uij;
      },
      "gru_candidate_backward");
}

template <class S>
void cuda::gru_reset_backward(context& ctx, ConstView<S> drh, ConstView<S> h, ConstView<S> r,
                              MatrixView<S> dr_pre, MatrixView<S> dh) {
  for_each(
      ctx, h.rows, h.cols,
      [=] __device__(Index i, Index j) {
        const S d = at(drh, i, j), rij = at(r, i, j);
        at(dr_pre, i, j) = d * at(h, i, j) * rij * (S(1) - rij);
        at(dh, i, j) += d * rij;
      },
      "gru_reset_backward");
}

// The LSTM passes: thread (i, j) owns unit i of trial j, i.e. row i of
// each of the four gate blocks [i; f; g; o].
template <class S>
void cuda::lstm_state(context& ctx, MatrixView<S> gates, ConstView<S> c, MatrixView<S> c_next,
                      MatrixView<S> tanh_c_next, MatrixView<S> h_next, S forget_bias) {
  const Index n = c.rows;
  assert(gates.rows == 4 * n && gates.cols == c.cols);
  for_each(
      ctx, c.rows, c.cols,
      [=] __device__(Index i, Index j) {
        S& in = at(gates, i, j);
        S& forget = at(gates, n + i, j);
        S& cand = at(gates, 2 * n + i, j);
        S& out = at(gates, 3 * n + i, j);
        in = device_sigmoid(in);
        forget = device_sigmoid(forget + forget_bias);
        cand = device_tanh(cand);
        out = device_sigmoid(out);
        const S cn = forget * at(c, i, j) + in * cand, tc = device_tanh(cn);
        at(c_next, i, j) = cn;
        at(tanh_c_next, i, j) = tc;
        at(h_next, i, j) = out * tc;
      },
      "lstm_state");
}

template <class S>
void cuda::lstm_backward(context& ctx, ConstView<S> dh_next, ConstView<S> dc_next, ConstView<S> gates,
                         ConstView<S> c, ConstView<S> tanh_c_next, MatrixView<S> d_gates, MatrixView<S> dc) {
  const Index n = c.rows;
  assert(gates.rows == 4 * n && d_gates.rows == 4 * n && gates.cols == c.cols && d_gates.cols == c.cols);
  for_each(
      ctx, c.rows, c.cols,
      [=] __device__(Index i, Index j) {
        const S in = at(gates, i, j), forget = at(gates, n + i, j), cand = at(gates, 2 * n + i, j),
                out = at(gates, 3 * n + i, j);
        const S tc = at(tanh_c_next, i, j), dh = at(dh_next, i, j);
        const S dcn = at(dc_next, i, j) + dh * out * (S(1) - tc * tc);  // the cotangent of c_next
        at(d_gates, i, j) = dcn * cand * in * (S(1) - in);
        at(d_gates, n + i, j) = dcn * at(c, i, j) * forget * (S(1) - forget);
        at(d_gates, 2 * n + i, j) = dcn * in * (S(1) - cand * cand);
        at(d_gates, 3 * n + i, j) = dh * tc * out * (S(1) - out);
        at(dc, i, j) += dcn * forget;
      },
      "lstm_backward");
}

template <class S>
void cuda::esn_euler(context& ctx, S dt_over_tau, ConstView<S> drive, MatrixView<S> a, MatrixView<S> h) {
  for_each(
      ctx, a.rows, a.cols,
      [=] __device__(Index i, Index j) {
        S& aij = at(a, i, j);
        aij += dt_over_tau * (at(drive, i, j) - aij);
        at(h, i, j) = device_tanh(aij);
      },
      "esn_euler");
}

namespace {

// -c = -1 / (1 + h.k) and sqrt(c) from the dot product that
// reduce_on_device left on the device, into work's rows n and n + 1.
template <class S>
__global__ void rls_coefficients(const double* hk, S* neg_c) {
  const double c = 1.0 / (1.0 + hk[0]);
  neg_c[0] = S(-c);
  neg_c[1] = S(sqrt(c));
}

// cuBLAS reads alpha from device memory while this lives.
class DevicePointerMode {
 public:
  explicit DevicePointerMode(cublasHandle_t blas) : blas_(blas) {
    CTD_CUDA_CHECK(cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_DEVICE));
  }
  ~DevicePointerMode() { cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_HOST); }
  DevicePointerMode(const DevicePointerMode&) = delete;
  DevicePointerMode& operator=(const DevicePointerMode&) = delete;

 private:
  cublasHandle_t blas_;
};

}  // namespace

// symv and the pending columns' gemvs, the dot product reduced on the
// device, and ger and the new column taking -c and sqrt(c) from device
// memory: nothing waits for the host.
template <class S>
void cuda::rls_update(context& ctx, MatrixView<S> p, MatrixView<S> pending, MatrixView<S> work, ConstView<S> h,
                      ConstView<S> error, MatrixView<S> readout) {
  const Index n = p.rows, j = pending.cols - 1;
  assert(p.cols == n && pending.rows == n && j >= 0 && work.rows >= n + 2 + j && h.rows == n &&
         readout.cols == n && error.rows == readout.rows);
  if (n == 0) return;
  const MatrixView<S> k = work.row_block(0, n), u_h = work.row_block(n + 2, j);
  const auto u = pending.col_block(0, j);
  symv(ctx, S(1), p, h, S(0), k);
  if (j > 0) {
    gemv(ctx, Trans::yes, S(1), u, h, S(0), u_h);
    gemv(ctx, Trans::no, S(-1), u, u_h, S(1), k);
  }
  reduce_on_device(
      ctx, n, 1, [=] __device__(Index i, Index) -> Sums { return {double(at(h, i, 0)) * double(at(k, i, 0)), 0.0}; },
      "rls_update");
  S* const neg_c = work.data + n;
  rls_coefficients<<<1, 1, 0, ctx.stream()>>>(ctx.reduction_result(), neg_c);
  CTD_CUDA_CHECK_LAUNCH("rls_coefficients");
  const MatrixView<S> added = pending.col_block(j, 1);
  const S* const sqrt_c = neg_c + 1;
  for_each(
      ctx, n, 1, [=] __device__(Index i, Index) { at(added, i, 0) = *sqrt_c * at(k, i, 0); }, "rls_update");
  if (readout.rows == 0) return;
  const DevicePointerMode device_alpha(ctx.blas());
  CTD_CUDA_CHECK(cuda_detail::ger(ctx.blas(), int(readout.rows), int(n), neg_c, error.data, k.data, readout.data,
                                  ld(readout)));
}

// ---- analysis ----------------------------------------------------------------------

template <class S>
void cuda::scaled_difference(context& ctx, S alpha, ConstView<S> a, ConstView<S> b, MatrixView<S> y) {
  assert(a.rows == y.rows && a.cols == y.cols && b.rows == y.rows && b.cols == y.cols);
  for_each(
      ctx, y.rows, y.cols, [=] __device__(Index i, Index j) { at(y, i, j) = alpha * (at(a, i, j) - at(b, i, j)); },
      "scaled_difference");
}

template <class S>
void cuda::column_sum_squares(context& ctx, ConstView<S> x, MatrixView<S> y) {
  assert(y.rows * y.cols == x.cols);
  if (x.cols == 0) return;
  const Index warps_per_block = block_size / warp_size;
  const Index blocks = std::min<Index>((x.cols + warps_per_block - 1) / warps_per_block, max_blocks);
  column_sum_squares_kernel<<<unsigned(blocks), block_size, 0, ctx.stream()>>>(x, y);
  CTD_CUDA_CHECK_LAUNCH("column_sum_squares");
}

template <class S>
void cuda::scale_rows_blocks(context& ctx, ConstView<S> d, ConstView<S> w, S beta, MatrixView<S> y) {
  const Index points = d.cols, m = points > 0 ? y.cols / points : 0;
  if (m == 0) return;
  assert(d.rows == y.rows && w.rows == y.rows && y.cols == m * points && (w.cols == m || w.cols == y.cols));
  const bool shared = w.cols == m;
  for_each(
      ctx, y.rows, y.cols,
      [=] __device__(Index i, Index j) {
        const Index p = j / m;
        const S scaled = at(d, i, p) * at(w, i, shared ? j - p * m : j);
        S& yij = at(y, i, j);
        yij = beta == S(0) ? scaled : scaled + beta * yij;
      },
      "scale_rows_blocks");
}

template <class S>
void cuda::add_diagonal_blocks(context& ctx, ConstView<S> v, MatrixView<S> y) {
  const Index r = v.rows;
  assert(y.rows == r && y.cols == r * v.cols);
  for_each(
      ctx, v.rows, v.cols, [=] __device__(Index i, Index p) { at(y, i, p * r + i) += at(v, i, p); },
      "add_diagonal_blocks");
}

// ---- LFADS -------------------------------------------------------------------------

template <class S>
void cuda::multiply(context& ctx, ConstView<S> a, ConstView<S> b, MatrixView<S> y) {
  assert(a.rows == y.rows && a.cols == y.cols && b.rows == y.rows && b.cols == y.cols);
  for_each(ctx, y.rows, y.cols, [=] __device__(Index i, Index j) { at(y, i, j) = at(a, i, j) * at(b, i, j); },
           "multiply");
}

template <class S>
void cuda::exp(context& ctx, ConstView<S> x, MatrixView<S> y) {
  assert(x.rows == y.rows && x.cols == y.cols);
  for_each(ctx, y.rows, y.cols, [=] __device__(Index i, Index j) { at(y, i, j) = device_exp(at(x, i, j)); }, "exp");
}

template <class S>
void cuda::gaussian_sample(context& ctx, ConstView<S> mean, ConstView<S> logvar, ConstView<S> eps, S var_min,
                           MatrixView<S> z) {
  for_each(
      ctx, z.rows, z.cols,
      [=] __device__(Index i, Index j) {
        at(z, i, j) = at(mean, i, j) + device_sqrt(device_exp(at(logvar, i, j)) + var_min) * at(eps, i, j);
      },
      "gaussian_sample");
}

template <class S>
void cuda::gaussian_sample_backward(context& ctx, ConstView<S> dz, ConstView<S> logvar, ConstView<S> eps,
                                    S var_min, MatrixView<S> d_mean, MatrixView<S> d_logvar) {
  for_each(
      ctx, dz.rows, dz.cols,
      [=] __device__(Index i, Index j) {
        const S d = at(dz, i, j), v = device_exp(at(logvar, i, j));
        at(d_mean, i, j) += d;
        at(d_logvar, i, j) += d * at(eps, i, j) * S(0.5) * v / device_sqrt(v + var_min);
      },
      "gaussian_sample_backward");
}

// One pass: each element's KL term goes into the reduction while the same
// thread writes its three gradients.
template <class S>
S cuda::kl_gauss_gauss(context& ctx, ConstView<S> mean, ConstView<S> logvar, ConstView<S> prior_mean,
                       ConstView<S> prior_logvar, S var_min, S scale, MatrixView<S> d_mean, MatrixView<S> d_logvar,
                       MatrixView<S> d_prior_logvar) {
  assert(prior_mean.rows == mean.rows && prior_logvar.rows == mean.rows);
  reduce_on_device(
      ctx, mean.rows, mean.cols,
      [=] __device__(Index i, Index j) -> Sums {
        const S pv = device_exp(prior_logvar.data[i]), p_var = pv + var_min, p_lv = device_log(p_var);
        const S v = device_exp(at(logvar, i, j)), var = v + var_min, ratio = var / p_var;
        const S diff = at(mean, i, j) - prior_mean.data[i], d2 = diff * diff / p_var;
        at(d_mean, i, j) = scale * diff / p_var;
        at(d_logvar, i, j) = scale * S(0.5) * (ratio - S(1)) * v / var;
        at(d_prior_logvar, i, j) = scale * S(0.5) * (S(1) - ratio - d2) * pv / p_var;
        return {double(p_lv - device_log(var) + ratio + d2 - S(1)), 0.0};
      },
      "kl_gauss_gauss");
  return scale * S(0.5 * fetch_sums(ctx).first);
}

// One thread per (dimension, trial) runs core/ar1_kl.hpp's sweep over the
// trial's steps, the CPU backend's body; the trials' KLs are reduced.
template <class S>
S cuda::kl_gauss_ar1(context& ctx, ConstView<S> mean, ConstView<S> logvar, ConstView<S> eps, ConstView<S> ar_mean,
                     ConstView<S> ar_logatau, ConstView<S> ar_lognvar, S var_min, S scale, Index steps,
                     MatrixView<S> d_mean, MatrixView<S> d_logvar, MatrixView<S> d_prior) {
  const Index dims = mean.rows, trials = steps > 0 ? mean.cols / steps : 0;
  assert(d_prior.rows == 3 * dims && d_prior.cols >= trials);
  reduce_on_device(
      ctx, dims, trials,
      [=] __device__(Index i, Index b) -> Sums {
        S* prior = d_prior.data + b * d_prior.ld;
        const S kl = ar1_kl_trial<S>(
            trial_series(mean.data, mean.ld, i, b, trials), trial_series(logvar.data, logvar.ld, i, b, trials),
            trial_series(eps.data, eps.ld, i, b, trials), ar_mean.data[i], ar_logatau.data[i],
            ar_lognvar.data[i], var_min, scale, steps, trial_series(d_mean.data, d_mean.ld, i, b, trials),
            trial_series(d_logvar.data, d_logvar.ld, i, b, trials), prior[i], prior[dims + i],
            prior[2 * dims + i]);
        return {double(kl), 0.0};
      },
      "kl_gauss_ar1");
  return S(fetch_sums(ctx).first);
}

template <class S>
S cuda::poisson_nll(context& ctx, ConstView<S> lograte, ConstView<S> counts, S scale, MatrixView<S> d_lograte) {
  assert(counts.rows == lograte.rows && counts.cols == lograte.cols);
  reduce_on_device(
      ctx, lograte.rows, lograte.cols,
      [=] __device__(Index i, Index j) -> Sums {
        const S lr = at(lograte, i, j), x = at(counts, i, j), rate = device_exp(lr);
        at(d_lograte, i, j) = scale * (rate - x);
        return {double(rate - x * lr), 0.0};
      },
      "poisson_nll");
  return scale * S(fetch_sums(ctx).first);
}

// One thread per row (the factors' matrices are small: tens of rows); a
// warp reads one column's consecutive rows at a time, coalesced. Sums in
// double, then scales by the reciprocal as the CPU's inverse diagonal does.
template <class S>
void cuda::normalize_rows(context& ctx, ConstView<S> w, MatrixView<S> norms, MatrixView<S> w_hat) {
  assert(norms.rows == w.rows && w_hat.rows == w.rows && w_hat.cols == w.cols);
  const Index cols = w.cols;
  for_each(
      ctx, w.rows, 1,
      [=] __device__(Index i, Index) {
        double s = 0;
        for (Index j = 0; j < cols; ++j) {
          const double v = at(w, i, j);
          s += v * v;
        }
        const S norm = device_sqrt(S(s)), inverse = S(1) / norm;
        norms.data[i] = norm;
        for (Index j = 0; j < cols; ++j) at(w_hat, i, j) = inverse * at(w, i, j);
      },
      "normalize_rows");
}

template <class S>
void cuda::normalize_rows_backward(context& ctx, ConstView<S> d_w_hat, ConstView<S> w_hat, ConstView<S> norms,
                                   MatrixView<S> d_w) {
  assert(d_w_hat.rows == w_hat.rows && norms.rows == w_hat.rows && d_w.rows == w_hat.rows);
  const Index cols = w_hat.cols;
  for_each(
      ctx, w_hat.rows, 1,
      [=] __device__(Index i, Index) {
        double s = 0;
        for (Index j = 0; j < cols; ++j) s += double(at(d_w_hat, i, j)) * double(at(w_hat, i, j));
        const S along = S(s), inverse = S(1) / norms.data[i];
        for (Index j = 0; j < cols; ++j) at(d_w, i, j) = inverse * (at(d_w_hat, i, j) - along * at(w_hat, i, j));
      },
      "normalize_rows_backward");
}

// ---- the two scalars the library is instantiated for ---------------------------
// Every operation of core/fused_ops.hpp's lists; S is deduced from the
// parameters (every entry takes a view of S).
#define CTD_CUDA_INSTANTIATE(ret, name, params, args) template ret cuda::name(cuda::context&, CTD_UNPAREN params);
CTD_FUSED_OPS(CTD_CUDA_INSTANTIATE, float)
CTD_FUSED_OPS(CTD_CUDA_INSTANTIATE, double)
#undef CTD_CUDA_INSTANTIATE

}  // namespace ctd
