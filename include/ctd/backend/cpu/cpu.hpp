#pragma once
// The CPU backend: Eigen for the dense algebra, plain loops that Eigen's
// array expressions vectorise for the fused element-wise passes.
//
// Each fused pass walks columns (one trial each): contiguous columns keep
// Eigen's vectorised tanh inlined (a whole strided-matrix expression falls
// back to a scalar call per element, 10x slower), and strided views such as
// the r/u halves of the GRU gate block need no copies.
#include <algorithm>
#include <bit>
#include <chrono>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <numbers>
#include <type_traits>
#include <utility>

#include <Eigen/Core>
#include <omp.h>

#include "ctd/backend/cpu/small_gemm.hpp"
#include "ctd/backend/cpu/symv_lower.hpp"
#include "ctd/backend/cpu/team.hpp"
#include "ctd/core/ar1_kl.hpp"
#include "ctd/core/backend.hpp"
#include "ctd/core/error.hpp"
#include "ctd/core/shards.hpp"

namespace ctd {

struct cpu {
  // The context sets how many threads work on independent trials (the
  // shards of a batch, OMP_NUM_THREADS by default): a team of threads
  // (team.hpp) that falls back to the calling thread's speed, not below it,
  // where another process holds a core. Eigen's own products stay
  // single-threaded: at the recurrent GEMMs' size (100 x 100 x 128) their
  // per-product fork and barrier cost more than they gain, and spinning
  // barriers collapse when another process holds a core. One parallel_for
  // per sequence, each thread running its trials through every time step,
  // needs no barrier inside the time loop.
  //
  // A single trajectory has no trials to share out. product_threads > 1
  // instead shares each of its large products (gemv, symv, syrk of at least
  // product_split_from elements: FORCE's wR h, P h and P's update) among a
  // team of threads, each keeping to the same rows or columns so that its
  // share stays in its own core's cache (FORCE's pass on two threads: 7.2
  // ms against 10.7 on one, benchmarks/RESULTS.md). Where another process
  // holds a core, the team falls back to about one thread's speed
  // (team.hpp). 1 by default: a context starts no product threads unless
  // asked. Copies of a context share its teams; a call that finds a team
  // held by another thread runs on its own thread alone.
  struct context {
    explicit context(int thread_count = omp_get_max_threads(), int product_threads = 1)
        : threads(std::max(1, thread_count)),
          shard_team(threads > 1 ? std::make_shared<detail::Team>(threads, shard_rest, shard_spin, true) : nullptr),
          products(product_threads > 1 ? std::make_shared<detail::Team>(product_threads) : nullptr) {
      Eigen::setNbThreads(1);
    }
    // After two stalls, or a caller that lost its core (the shard team's
    // calls are long enough to watch that: team.hpp), the caller does every
    // share itself this long (a few training steps, more when the machine
    // is still shared after it) before it hands work over again.
    static constexpr std::chrono::milliseconds shard_rest{100};
    // A batch's shards come a few to a step, with the caller's own work
    // (a loss, Adam) between them: the shard team's helpers stay awake
    // through that, as libgomp's threads spin for milliseconds, since a
    // helper woken from its sleep starts late and its share ends late.
    static constexpr std::chrono::microseconds shard_spin{2000};
    int threads;  // as constructed: the shard team has this many members
    std::shared_ptr<detail::Team> shard_team;  // null: one thread
    std::shared_ptr<detail::Team> products;    // null: one thread
  };
  // A BLAS behind Eigen (ctd::openblas) runs on the calling thread alone,
  // as Eigen's own products do. OpenBLAS's OpenMP build otherwise forks
  // omp_get_max_threads() threads for every product called outside an
  // OpenMP region — every product of ours but the analysis's — and their
  // spinning barriers collapse when another process holds a core (a
  // one-thread training step ran 17x slower beside one busy core). Inside
  // a region it is single-threaded already.
  class SingleThreadedBlas {
   public:
    SingleThreadedBlas() : saved_(omp_in_parallel() ? 0 : omp_get_max_threads()) {
      if (saved_ > 1) omp_set_num_threads(1);
    }
    ~SingleThreadedBlas() {
      if (saved_ > 1) omp_set_num_threads(saved_);
    }
    SingleThreadedBlas(const SingleThreadedBlas&) = delete;
    SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

   private:
    int saved_;
  };
  // Set on a thread while it runs its range of a parallel_for.
  static inline thread_local bool inside_shard_ = false;
  // Whether this thread runs a shard of a parallel_for (or of an OpenMP
  // region: the analysis's points) and so shares its work no further.
  static bool in_shard() { return inside_shard_ || omp_in_parallel(); }
  // Inside a shard there is one shard: the work is already spread over the
  // threads.
  static Index shards(const context& ctx) { return in_shard() ? 1 : ctx.threads; }
  // The fixed-point finder's candidates in chunks of 256: a chunk's working
  // set stays in a core's cache across the step's passes, and the chunks
  // are dealt out to the threads (on 10000 GRU candidates, 2 threads: ~15 ms
  // a step against ~30 ms for one chunk of all).
  static constexpr Index point_chunk = 256;
  // A sequence's input projection goes step by step, each shard its own
  // trials, just before the step adds the recurrent part to it: the block
  // is then in cache. Over all steps at once (4.9 MB for LFADS's encoder)
  // it went out to memory and each step read it back (LFADS's training
  // step on two threads: 44.8 ms against 46.1, benchmarks/RESULTS.md).
  static constexpr bool projects_per_step = true;
  // Held by a thread through its share of a sweep: the weights it
  // multiplies stay fixed, so each is packed for the GEMM kernel once
  // (small_gemm.hpp).
  using fixed_left_operands = detail::FixedLeftOperands;
  // Calls f(k) for k in [0, count), `threads` at a time: thread m of the
  // shard team takes the m-th of near-equal ranges of k, the same range
  // every call, so its trials' data stays in its core's cache from one
  // call to the next. A range whose thread is not running (another process
  // holds its core) runs on the calling thread (team.hpp).
  template <class F>
  static void parallel_for(context& ctx, Index count, F&& f) {
    if (count == 1 || shards(ctx) == 1) {
      for (Index k = 0; k < count; ++k) f(k);
      return;
    }
    ctx.shard_team->run([&](int member) noexcept {  // as an OpenMP region, a throw ends the program
      const bool outer = std::exchange(inside_shard_, true);
      const auto [first, n] = shard_range(count, ctx.threads, member);
      for (Index k = first; k < first + n; ++k) f(k);
      inside_shard_ = outer;
    });
  }

  template <class S>
  using Map = Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>, Eigen::Unaligned,
                         Eigen::OuterStride<>>;
  template <class S>
  using ConstMap = Eigen::Map<const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>,
                              Eigen::Unaligned, Eigen::OuterStride<>>;

  template <class S>
  static Map<S> map(MatrixView<S> v) {
    return Map<S>(v.data, v.rows, v.cols, Eigen::OuterStride<>(std::max<Index>(v.ld, 1)));
  }
  template <class S>
  static ConstMap<S> map(ConstView<S> v) {
    return ConstMap<S>(v.data, v.rows, v.cols, Eigen::OuterStride<>(std::max<Index>(v.ld, 1)));
  }
  // Column j of a view as an Eigen array (contiguous).
  template <class S>
  static auto col(MatrixView<S> v, Index j) {
    return Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>>(v.data + j * v.ld, v.rows);
  }
  template <class S>
  static auto col(ConstView<S> v, Index j) {
    return Eigen::Map<const Eigen::Array<S, Eigen::Dynamic, 1>>(v.data + j * v.ld, v.rows);
  }
  // Rows [start, start + size) of column j of views, from row `row` on, as
  // Eigen arrays of compile-time Size (or Dynamic): one segment of
  // for_segments.
  template <class S, int Size>
  struct Segment {
    Index start, size;
    auto operator()(MatrixView<S> v, Index j, Index row = 0) const {
      return Eigen::Map<Eigen::Array<S, Size, 1>>(v.data + j * v.ld + row + start, size);
    }
    auto operator()(ConstView<S> v, Index j, Index row = 0) const {
      return Eigen::Map<const Eigen::Array<S, Size, 1>>(v.data + j * v.ld + row + start, size);
    }
  };
  // Calls body(segment) over rows [0, rows) of a column: one packet at a
  // time as fixed-size arrays, then the rest. Eigen steps a dynamic-size
  // column to an aligned address one scalar at a time (scalar tanh
  // included), which at n = 100 (a column start every 400 bytes) made the
  // cell passes twice as slow as unaligned packets: tanh over 100 x 128,
  // 8.5 us against 4.2. The passes with a tanh or an exp use it; for the
  // purely arithmetic ones it measured no faster.
  template <class S, class Body>
  static void for_segments(Index rows, Body&& body) {
    constexpr int lanes = Eigen::internal::packet_traits<S>::size;
    Index i = 0;
    for (; i + lanes <= rows; i += lanes) body(Segment<S, lanes>{i, lanes});
    // The rest in a half and a quarter packet, which Eigen computes with
    // its smaller packets (n = 100: 6 x 16 + 4 floats), then one by one.
    if constexpr (lanes >= 4) {
      if (i + lanes / 2 <= rows) {
        body(Segment<S, lanes / 2>{i, lanes / 2});
        i += lanes / 2;
      }
      if (i + lanes / 4 <= rows) {
        body(Segment<S, lanes / 4>{i, lanes / 4});
        i += lanes / 4;
      }
    }
    if (i < rows) body(Segment<S, Eigen::Dynamic>{i, rows - i});
  }

  // ---- storage ------------------------------------------------------------
  template <class S>
  static S* allocate(Index count) {
    if (count <= 0) return nullptr;
    // 64-byte alignment: one AVX-512 register, one cache line.
    const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(S) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    return static_cast<S*>(p);
  }
  template <class S>
  static void deallocate(S* p) {
    std::free(const_cast<std::remove_const_t<S>*>(p));
  }
  template <class S>
  static void copy_from_host(context&, const S* src, MatrixView<S> dst) {
    map(dst) = ConstMap<S>(src, dst.rows, dst.cols, Eigen::OuterStride<>(std::max<Index>(dst.rows, 1)));
  }
  template <class S>
  static void copy_to_host(context&, ConstView<S> src, S* dst) {
    Map<S>(dst, src.rows, src.cols, Eigen::OuterStride<>(std::max<Index>(src.rows, 1))) = map(src);
  }
  // An element-wise pass over the views of one shape (rows x cols):
  // pass(part) with part(v) the block of any of them a thread takes. A
  // large pass called outside the threads' shards (a whole T*B block, the
  // parameter vector) is split over the threads, by columns or, for a
  // column vector, by rows; a small one, or one inside a shard, runs whole.
  template <class Pass>
  static void elementwise(context& ctx, Index rows, Index cols, Pass&& pass) {
    constexpr Index split_from = Index(1) << 16;  // elements: below, a fork costs more than it saves
    if (rows * cols < split_from || shards(ctx) == 1) return pass([](auto v) { return v; });
    if (cols >= shards(ctx))
      for_each_shard<cpu>(ctx, cols, [&](Index c0, Index ck) { pass([=](auto v) { return v.col_block(c0, ck); }); });
    else
      for_each_shard<cpu>(ctx, rows, [&](Index r0, Index rk) { pass([=](auto v) { return v.row_block(r0, rk); }); });
  }
  template <class S>
  static void copy(context& ctx, ConstView<S> src, MatrixView<S> dst) {
    elementwise(ctx, dst.rows, dst.cols, [&](auto part) { map(part(dst)) = map(part(src)); });
  }
  template <class S>
  static void fill(context& ctx, MatrixView<S> y, S value) {
    elementwise(ctx, y.rows, y.cols, [&](auto part) { map(part(y)).setConstant(value); });
  }
  static void synchronize(context&) {}

  // ---- dense linear algebra -----------------------------------------------
  // The team that shares a product over `elements` matrix elements, or null
  // where the calling thread does it alone: no team, a small product (a
  // hand-over costs more than it saves), or a call inside a shard.
  static constexpr Index product_split_from = Index(1) << 16;
  static detail::Team* product_team(context& ctx, Index elements) {
    return ctx.products && elements >= product_split_from && !in_shard() ? ctx.products.get() : nullptr;
  }
  // Member m's rows [r0, r1) of `rows`, in whole packets but the last.
  static std::pair<Index, Index> team_split(Index rows, int m, int members) {
    const auto edge = [&](int k) { return k == members ? rows : rows * k / members / 16 * 16; };
    return {edge(m), edge(m + 1)};
  }
  // The first column of member m's block of the lower triangle of an
  // (n x n) matrix, the blocks taking about the same time in symv_lower.
  // A column costs its elements plus column_cost more (its share of a
  // panel's diagonal block and reductions): symv_lower over columns [0, j)
  // and [j, 500) measured 4.75 and 6.36 us at j = 146, which splits the
  // elements evenly, and 3.17 and 7.01 at j = 100, so about 110 elements.
  static Index triangle_split(Index n, int m, int members) {
    constexpr double column_cost = 110;
    // columns [0, j) cost j (n + 1/2 + column_cost) - j^2 / 2
    const double b = double(n) + 0.5 + column_cost, total = b * double(n) - double(n) * double(n) / 2;
    const double target = total * m / members;
    return std::clamp<Index>(Index(std::lround(b - std::sqrt(b * b - 2 * target))), 0, n);
  }
  // Columns [j0, j1) of syrk's update: the diagonal block and the
  // rectangle below it.
  template <class S>
  static void syrk_columns(S alpha, ConstView<S> x, MatrixView<S> a, Index j0, Index j1) {
    const SingleThreadedBlas one_thread;
    const Index n = a.rows;
    const auto X = map(x);
    auto block = map(a).middleCols(j0, j1 - j0);
    block.middleRows(j0, j1 - j0).template selfadjointView<Eigen::Lower>().rankUpdate(X.middleRows(j0, j1 - j0),
                                                                                      alpha);
    if (j1 < n)
      block.bottomRows(n - j1).noalias() += alpha * X.bottomRows(n - j1) * X.middleRows(j0, j1 - j0).transpose();
  }
  // C = alpha * op(A) op(B) + beta * C; beta == 0 overwrites C (even NaN).
  template <class S>
  static void gemm(context&, Trans ta, Trans tb, S alpha, ConstView<S> a, ConstView<S> b, S beta,
                   MatrixView<S> c) {
    const SingleThreadedBlas one_thread;
    auto C = map(c);
    auto A = map(a);
    auto Bm = map(b);
    if (beta == S(0))
      C.setZero();
    else if (beta != S(1))
      C *= beta;
    const Index depth = ta == Trans::no ? a.cols : a.rows;
    if (c.rows == 0 || c.cols == 0 || depth == 0) return;
    if (detail::is_small_product<S>(c.rows, c.cols, depth)) {
      const auto run = [&]<bool TA, bool TB> {
        detail::small_gemm<S, TA, TB>(c.rows, c.cols, depth, alpha, a.data, a.ld, b.data, b.ld, c.data, c.ld);
      };
      if (ta == Trans::no)
        tb == Trans::no ? run.template operator()<false, false>() : run.template operator()<false, true>();
      else
        tb == Trans::no ? run.template operator()<true, false>() : run.template operator()<true, true>();
      return;
    }
    if (ta == Trans::no && tb == Trans::no)
      C.noalias() += alpha * A * Bm;
    else if (ta == Trans::no)
      C.noalias() += alpha * A * Bm.transpose();
    else if (tb == Trans::no)
      C.noalias() += alpha * A.transpose() * Bm;
    else
      C.noalias() += alpha * A.transpose() * Bm.transpose();
  }
  // y = alpha * op(A) x + beta * y, x and y column vectors. Shared by the
  // product team by rows of A.
  template <class S>
  static void gemv(context& ctx, Trans ta, S alpha, ConstView<S> a, ConstView<S> x, S beta,
                   MatrixView<S> y) {
    detail::Team* team = product_team(ctx, a.rows * a.cols);
    if (team && ta == Trans::no)
      return team->run([&](int member) {
        const auto [r0, r1] = team_split(a.rows, member, team->members());
        gemv_here(ta, alpha, a.row_block(r0, r1 - r0), x, beta, y.row_block(r0, r1 - r0));
      });
    gemv_here(ta, alpha, a, x, beta, y);
  }
  // gemv on the calling thread.
  template <class S>
  static void gemv_here(Trans ta, S alpha, ConstView<S> a, ConstView<S> x, S beta, MatrixView<S> y) {
    const SingleThreadedBlas one_thread;
    auto Y = map(y).col(0);
    if (beta == S(0))
      Y.setZero();
    else if (beta != S(1))
      Y *= beta;
    if (ta == Trans::no)
      Y.noalias() += alpha * map(a) * map(x).col(0);
    else
      Y.noalias() += alpha * map(a).transpose() * map(x).col(0);
  }
  // A += alpha * x y^T, column by column with unaligned packets. Eigen's
  // outer product first steps each column's start to an aligned address one
  // scalar at a time, which dominates short columns: FORCE's readout update
  // (20 x 500, RLS) took 2.6 us that way and takes 1.25 us so.
  template <class S>
  static void ger(context&, S alpha, ConstView<S> x, ConstView<S> y, MatrixView<S> a) {
    assert(x.rows == a.rows && x.cols == 1 && y.rows == a.cols && y.cols == 1);
    using namespace Eigen::internal;
    using Packet = typename packet_traits<S>::type;
    constexpr Index lanes = packet_traits<S>::size;
    for (Index j = 0; j < a.cols; ++j) {
      S* column = a.data + j * a.ld;
      const S yj = alpha * y.data[j];
      const Packet yp = pset1<Packet>(yj);
      Index i = 0;
      for (; i + lanes <= a.rows; i += lanes)
        pstoreu(column + i, pmadd(ploadu<Packet>(x.data + i), yp, ploadu<Packet>(column + i)));
      for (; i < a.rows; ++i) column[i] += x.data[i] * yj;
    }
  }
  // y = alpha * A x + beta * y for a symmetric A of which only the lower
  // triangle is read (BLAS symv, uplo = lower): half the memory traffic of
  // gemv, and the strictly upper triangle may hold anything. Our own kernel
  // (symv_lower.hpp), not BLAS's.
  // Shared by the product team in blocks of columns (triangle_split):
  // member m > 0 adds its columns' part (rows from its first column on)
  // into its scratch, summed into y after.
  template <class S>
  static void symv(context& ctx, S alpha, ConstView<S> a, ConstView<S> x, S beta, MatrixView<S> y) {
    assert(a.rows == a.cols && x.rows == a.rows && x.cols == 1 && y.rows == a.rows && y.cols == 1);
    const Index n = a.rows;
    auto Y = map(y).col(0);
    if (beta == S(0))
      Y.setZero();
    else if (beta != S(1))
      Y *= beta;
    detail::Team* team = product_team(ctx, n * n / 2);
    if (!team) return detail::symv_lower(n, Index(0), n, alpha, a.data, a.ld, x.data, y.data);
    const int members = team->members();
    team->run([&](int member) {
      const Index j0 = triangle_split(n, member, members), j1 = triangle_split(n, member + 1, members);
      S* out = y.data;
      if (member > 0) {
        out = team->scratch<S>(member, std::size_t(n));
        std::fill(out + j0, out + n, S(0));
      }
      detail::symv_lower(n, j0, j1, alpha, a.data, a.ld, x.data, out);
    });
    for (int member = 1; member < members; ++member) {
      const Index j0 = triangle_split(n, member, members);
      Y.tail(n - j0) += Eigen::Map<const Eigen::Vector<S, Eigen::Dynamic>>(team->scratch<S>(member, n) + j0, n - j0);
    }
  }
  // Lower triangle of A += alpha * X X^T for X (n x k) (BLAS syrk, uplo =
  // lower, no transpose); the strictly upper triangle is left untouched.
  // Shared by the product team in the same blocks of columns as symv: each
  // member updates its diagonal block and the rectangle below it.
  template <class S>
  static void syrk(context& ctx, S alpha, ConstView<S> x, MatrixView<S> a) {
    if (x.cols == 0) return;
    const Index n = a.rows;
    detail::Team* team = product_team(ctx, n * n / 2);
    if (!team) return syrk_columns(alpha, x, a, 0, n);
    team->run([&](int member) {
      syrk_columns(alpha, x, a, triangle_split(n, member, team->members()),
                   triangle_split(n, member + 1, team->members()));
    });
  }
  template <class S>
  static void axpy(context& ctx, S alpha, ConstView<S> x, MatrixView<S> y) {
    elementwise(ctx, y.rows, y.cols, [&](auto part) { map(part(y)) += alpha * map(part(x)); });
  }
  template <class S>
  static void scale(context& ctx, S alpha, MatrixView<S> y) {
    elementwise(ctx, y.rows, y.cols, [&](auto part) { map(part(y)) *= alpha; });
  }

  // ---- reductions and broadcasts ------------------------------------------
  template <class S>
  static S sum_squares(context&, ConstView<S> x) {
    return map(x).squaredNorm();
  }
  template <class S>
  static S dot(context&, ConstView<S> x, ConstView<S> y) {
    return map(x).cwiseProduct(map(y)).sum();
  }
  // y (rows x 1) += sum over the columns of x: bias gradients. Column by
  // column, so x streams through once in memory order (Eigen's rowwise()
  // reduction of a column-major map runs about 3x slower at LFADS's 384 x
  // 3200).
  template <class S>
  static void add_row_sums(context&, ConstView<S> x, MatrixView<S> y) {
    auto sum = col(y, 0);
    for (Index j = 0; j < x.cols; ++j) sum += col(x, j);
  }
  // y[:, j] = v for every column j: a shared initial state for a batch.
  template <class S>
  static void broadcast_columns(context&, ConstView<S> v, MatrixView<S> y) {
    map(y).colwise() = map(v).col(0);
  }
  // sum(mask * (out - target)^2) / sum(mask); writes its gradient to dout.
  template <class S>
  static S masked_mse(context&, ConstView<S> out, ConstView<S> target, ConstView<S> mask,
                      MatrixView<S> dout) {
    const S count = map(mask).sum();
    require(count > 0, "masked_mse: the mask selects no entries");
    auto diff = (map(out) - map(target)).array() * map(mask).array();
    map(dout) = (S(2) / count) * diff.matrix();
    return (diff * (map(out) - map(target)).array()).sum() / count;
  }

  // ---- optimiser ------------------------------------------------------------
  // Adam as jax.example_libraries.optimizers.adam; `step` counts from 0.
  template <class S>
  static void adam_update(context& ctx, MatrixView<S> x, ConstView<S> g, MatrixView<S> m,
                          MatrixView<S> v, S lr, S b1, S b2, S eps, Index step) {
    const S c1 = S(1) / (S(1) - std::pow(b1, S(step + 1)));
    const S c2 = S(1) / (S(1) - std::pow(b2, S(step + 1)));
    // Blocks of rows (of Adam's column vector) small enough to stay in
    // cache across the three passes, spread over the threads when there are
    // many (the fixed-point finder's million coordinates).
    const Index block = Index(1) << 14, blocks = (x.rows + block - 1) / block;
    const auto update = [&](Index k) {
      const Index first = k * block, count = std::min(block, x.rows - first);
      auto X = map(x).middleRows(first, count).array();
      auto M = map(m).middleRows(first, count).array();
      auto V = map(v).middleRows(first, count).array();
      auto G = map(g).middleRows(first, count).array();
      M = b1 * M + (S(1) - b1) * G;
      V = b2 * V + (S(1) - b2) * G.square();
      X -= lr * (M * c1) / ((V * c2).sqrt() + eps);
    };
    if (blocks < 8) {
      for (Index k = 0; k < blocks; ++k) update(k);
    } else {
      parallel_for(ctx, blocks, update);
    }
  }

  // ---- random fills -----------------------------------------------------------
  // Rng::uniform_at, bit for bit, without a 64-bit integer conversion (AVX2
  // has none): with m = bits >> 12 and b = bit 11, (bits >> 11) + 1 is
  // 2m + b + 1, and m 2^-52 is the double with mantissa m and exponent 0,
  // less 1. Every step is exact.
  static double uniform_vectorizable(std::uint64_t seed, std::uint64_t i) {
    const std::uint64_t bits = Rng::bits_at(seed, i);
    const double m = std::bit_cast<double>((bits >> 12) | 0x3FF0000000000000ULL) - 1.0;
    return m + ((bits >> 11) & 1 ? 0x1.0p-52 : 0x1.0p-53);
  }
  // Rng::normal_at for draws first .. first + count - 1, vectorised for a
  // float fill: the uniforms and log u1 in double as normal_at computes
  // them, the square root, cosine and sine in float (Eigen vectorises no
  // double cosine), their argument reduced to [-pi, pi] first. Each pair
  // of uniforms gives the cosine and sine normals of its pair; a fill that
  // starts or ends inside a pair leaves that pair's other normal out.
  // Within a few float roundings of normal_at; the scalar libm calls were
  // a quarter of a training step under state noise.
  static void normals_float(std::uint64_t seed, std::uint64_t first, Index count, float mean, float stddev,
                            float* out) {
    constexpr Index chunk = 128;  // pairs
    alignas(64) double u1[chunk];
    alignas(64) float radius[chunk], angle[chunk], cosine[chunk], sine[chunk];
    const std::uint64_t end = first + std::uint64_t(count);
    for (std::uint64_t p0 = first / 2; 2 * p0 < end; p0 += chunk) {
      const Index k = Index(std::min<std::uint64_t>(chunk, (end + 1) / 2 - p0));
      for (Index i = 0; i < k; ++i) {
        const std::uint64_t pair = p0 + std::uint64_t(i);
        u1[i] = uniform_vectorizable(seed, 2 * pair);
        // cos(2 pi u2) = -cos(2 pi (u2 - 1/2)), and the same for sin
        angle[i] = float(2.0 * std::numbers::pi * (uniform_vectorizable(seed, 2 * pair + 1) - 0.5));
      }
      Eigen::Map<Eigen::ArrayXd> log_u1(u1, k);
      log_u1 = log_u1.log();  // in place
      for (Index i = 0; i < k; ++i) radius[i] = float(-2.0 * u1[i]);
      Eigen::Map<Eigen::ArrayXf> r(radius, k), a(angle, k);
      r = stddev * r.sqrt();
      Eigen::Map<Eigen::ArrayXf>(cosine, k) = mean - r * a.cos();
      Eigen::Map<Eigen::ArrayXf>(sine, k) = mean - r * a.sin();
      for (Index i = 0; i < k; ++i) {
        const std::uint64_t even = 2 * (p0 + std::uint64_t(i));
        if (even >= first) out[even - first] = cosine[i];
        if (even + 1 < end) out[even + 1 - first] = sine[i];
      }
    }
  }
  template <class S>
  static void fill_normal(context& ctx, MatrixView<S> y, S mean, S stddev, Rng& rng) {
    const std::uint64_t seed = rng.seed, first = rng.counter;
    parallel_for(ctx, y.cols, [&](Index j) {
      const std::uint64_t column = first + std::uint64_t(j * y.rows);
      if constexpr (std::is_same_v<S, float>) {
        normals_float(seed, column, y.rows, mean, stddev, y.data + j * y.ld);
      } else {
        for (Index i = 0; i < y.rows; ++i)
          y.data[i + j * y.ld] = mean + stddev * static_cast<S>(Rng::normal_at(seed, column + std::uint64_t(i)));
      }
    });
    rng.counter += std::uint64_t(y.size());
  }

  // ---- fused cell passes ------------------------------------------------------
  // y = tanh(x).
  template <class S>
  static void tanh(context&, ConstView<S> x, MatrixView<S> y) {
    for (Index j = 0; j < x.cols; ++j) for_segments<S>(x.rows, [&](auto s) { s(y, j) = s(x, j).tanh(); });
  }
  // dz = dh * (1 - h^2).
  template <class S>
  static void tanh_backward(context&, ConstView<S> dh, ConstView<S> h, MatrixView<S> dz) {
    for (Index j = 0; j < h.cols; ++j)
      for_segments<S>(h.rows, [&](auto s) { s(dz, j) = s(dh, j) * (S(1) - s(h, j).square()); });
  }

  // GRU gates, in place on the (2n x B) pre-activations ru:
  // r = sigma(ru[0:n]), u = sigma(ru[n:2n] + bfg); also rh = r * h.
  template <class S>
  static void gru_gates(context&, MatrixView<S> ru, ConstView<S> h, MatrixView<S> rh, S bfg) {
    const Index n = h.rows;
    for (Index j = 0; j < h.cols; ++j)
      for_segments<S>(n, [&](auto s) {
        auto r = s(ru, j), u = s(ru, j, n);
        r = S(0.5) * ((S(0.5) * r).tanh() + S(1));
        u = S(0.5) * ((S(0.5) * (u + bfg)).tanh() + S(1));
        s(rh, j) = r * s(h, j);
      });
  }
  // GRU state, in place on the candidate pre-activation c:
  // c = tanh(c); h_next = u * h + (1 - u) * c.
  template <class S>
  static void gru_state(context&, MatrixView<S> c, ConstView<S> u, ConstView<S> h,
                        MatrixView<S> h_next) {
    for (Index j = 0; j < h.cols; ++j)
      for_segments<S>(h.rows, [&](auto s) {
        auto cj = s(c, j);
        cj = cj.tanh();
        const auto uj = s(u, j);
        s(h_next, j) = uj * s(h, j) + (S(1) - uj) * cj;
      });
  }
  // Backward through h_next = u h + (1-u) c given dh_next:
  // dc_pre = dh_next (1-u)(1-c^2), du_pre = dh_next (h-c) u(1-u), dh += dh_next u.
  template <class S>
  static void gru_candidate_backward(context&, ConstView<S> dh_next, ConstView<S> h, ConstView<S> u,
                                     ConstView<S> c, MatrixView<S> dc_pre, MatrixView<S> du_pre,
                                     MatrixView<S> dh) {
    for (Index j = 0; j < h.cols; ++j)
      for_segments<S>(h.rows, [&](auto s) {
        const auto d = s(dh_next, j), hj = s(h, j), uj = s(u, j), cj = s(c, j);
        s(dc_pre, j) = d * (S(1) - uj) * (S(1) - cj.square());
        s(du_pre, j) = d * (hj - cj) * uj * (S(1) - uj);
        s(dh, j) += d * uj;
      });
  }
  // Backward through rh = r * h given drh: dr_pre = drh h r(1-r); dh += drh r.
  template <class S>
  static void gru_reset_backward(context&, ConstView<S> drh, ConstView<S> h, ConstView<S> r,
                                 MatrixView<S> dr_pre, MatrixView<S> dh) {
    for (Index j = 0; j < h.cols; ++j)
      for_segments<S>(h.rows, [&](auto s) {
        const auto d = s(drh, j), rj = s(r, j);
        s(dr_pre, j) = d * s(h, j) * rj * (S(1) - rj);
        s(dh, j) += d * rj;
      });
  }

  // LSTM state, in place on the (4n x B) pre-activations [i; f; g; o]:
  // i = sigma(i), f = sigma(f + forget_bias), g = tanh(g), o = sigma(o);
  // c_next = f c + i g, tanh_c_next = tanh(c_next), h_next = o tanh_c_next.
  template <class S>
  static void lstm_state(context&, MatrixView<S> gates, ConstView<S> c, MatrixView<S> c_next,
                         MatrixView<S> tanh_c_next, MatrixView<S> h_next, S forget_bias) {
    const Index n = c.rows;
    const auto sigmoid = [](auto x) { return S(0.5) * ((S(0.5) * x).tanh() + S(1)); };
    for (Index j = 0; j < c.cols; ++j)
      for_segments<S>(n, [&](auto s) {
        auto i = s(gates, j), f = s(gates, j, n), g = s(gates, j, 2 * n), o = s(gates, j, 3 * n);
        i = sigmoid(i);
        f = sigmoid(f + forget_bias);
        g = g.tanh();
        o = sigmoid(o);
        auto cn = s(c_next, j), tc = s(tanh_c_next, j);
        cn = f * s(c, j) + i * g;
        tc = cn.tanh();
        s(h_next, j) = o * tc;
      });
  }
  // Backward through lstm_state given dh_next and dc_next: the cotangent of
  // c_next is dc_next + dh_next o (1 - tanh_c_next^2); writes the gates'
  // pre-activation cotangents d_gates (4n x B) and adds f times it to dc.
  template <class S>
  static void lstm_backward(context&, ConstView<S> dh_next, ConstView<S> dc_next, ConstView<S> gates,
                            ConstView<S> c, ConstView<S> tanh_c_next, MatrixView<S> d_gates, MatrixView<S> dc) {
    const Index n = c.rows;
    for (Index j = 0; j < c.cols; ++j) {
      const S* g = gates.data + j * gates.ld;
      S* d = d_gates.data + j * d_gates.ld;
      for (Index k = 0; k < n; ++k) {
        const S i = g[k], f = g[n + k], cand = g[2 * n + k], o = g[3 * n + k];
        const S tc = tanh_c_next.data[k + j * tanh_c_next.ld], dh = dh_next.data[k + j * dh_next.ld];
        const S dcn = dc_next.data[k + j * dc_next.ld] + dh * o * (S(1) - tc * tc);
        d[k] = dcn * cand * i * (S(1) - i);
        d[n + k] = dcn * c.data[k + j * c.ld] * f * (S(1) - f);
        d[2 * n + k] = dcn * i * (S(1) - cand * cand);
        d[3 * n + k] = dh * tc * o * (S(1) - o);
        dc.data[k + j * dc.ld] += dcn * f;
      }
    }
  }

  // ESN Euler step, in place: a += dt_over_tau * (drive - a); h = tanh(a).
  template <class S>
  static void esn_euler(context&, S dt_over_tau, ConstView<S> drive, MatrixView<S> a,
                        MatrixView<S> h) {
    for (Index j = 0; j < a.cols; ++j)
      for_segments<S>(a.rows, [&](auto s) {
        auto aj = s(a, j);
        aj += dt_over_tau * (s(drive, j) - aj);
        s(h, j) = aj.tanh();
      });
  }

  // One RLS sample (force/rls.hpp), rls_update_by_parts<cpu>.
  template <class S>
  static void rls_update(context& ctx, MatrixView<S> p, MatrixView<S> pending, MatrixView<S> work, ConstView<S> h,
                         ConstView<S> error, MatrixView<S> readout);

  // ---- analysis ---------------------------------------------------------------
  // y = alpha * (a - b): the scaled residual F(h) - h of the fixed-point loss.
  template <class S>
  static void scaled_difference(context&, S alpha, ConstView<S> a, ConstView<S> b, MatrixView<S> y) {
    for (Index j = 0; j < y.cols; ++j) col(y, j) = alpha * (col(a, j) - col(b, j));
  }
  // y (1 x cols) = the squared norm of every column of x (one per point).
  template <class S>
  static void column_sum_squares(context&, ConstView<S> x, MatrixView<S> y) {
    for (Index j = 0; j < x.cols; ++j) y.data[j * y.ld] = col(x, j).square().sum();
  }
  // Batched row scaling, for Jacobians stored as column blocks (one per
  // point p): with m = y.cols / d.cols,
  //   block p of y = diag(d[:, p]) w_p + beta * block p of y,
  // where w_p is w itself when w has m columns (shared by every block) or
  // block p of w when it has m * d.cols (w may then be y: in-place scaling).
  // beta == 0 overwrites.
  template <class S>
  static void scale_rows_blocks(context&, ConstView<S> d, ConstView<S> w, S beta, MatrixView<S> y) {
    const Index points = d.cols, m = points > 0 ? y.cols / points : 0;
    const bool shared = w.cols == m;
    for (Index p = 0; p < points; ++p) {
      const auto dp = col(d, p);
      for (Index j = 0; j < m; ++j) {
        const auto wj = col(w, shared ? j : p * m + j);
        auto yj = col(y, p * m + j);
        if (beta == S(0))
          yj = dp * wj;
        else
          yj = dp * wj + beta * yj;
      }
    }
  }
  // Block p (r x r, r = v.rows) of y += diag(v[:, p]).
  template <class S>
  static void add_diagonal_blocks(context&, ConstView<S> v, MatrixView<S> y) {
    const Index r = v.rows;
    for (Index p = 0; p < v.cols; ++p)
      for (Index i = 0; i < r; ++i) y.data[i + (p * r + i) * y.ld] += v.data[i + p * v.ld];
  }

  // ---- LFADS ------------------------------------------------------------------
  // One column of a dropout mask, from draws first .. first + count - 1.
  // Its arguments are values, not a lambda's captures: a store through
  // `out` then cannot alias them, and the loop vectorises.
  template <class S>
  static void dropout_column(std::uint64_t seed, std::uint64_t first, Index count, double keep_rate, S kept, S* out) {
    for (Index i = 0; i < count; ++i) out[i] = uniform_vectorizable(seed, first + std::uint64_t(i)) < keep_rate ? kept : S(0);
  }
  // mask = Bernoulli(keep_rate) / keep_rate (all ones when keep_rate >= 1),
  // draw i + j * rows of the rng's counter for element (i, j), so a device
  // fill draws the same mask and the columns can be filled in parallel.
  template <class S>
  static void fill_dropout_mask(context& ctx, MatrixView<S> mask, S keep_rate, Rng& rng) {
    if (keep_rate >= S(1)) return fill(ctx, mask, S(1));
    const std::uint64_t seed = rng.seed, first = rng.counter;
    const S kept = S(1) / keep_rate;
    parallel_for(ctx, mask.cols, [&](Index j) {
      dropout_column(seed, first + std::uint64_t(j * mask.rows), mask.rows, double(keep_rate), kept,
                     mask.data + j * mask.ld);
    });
    rng.counter += std::uint64_t(mask.size());
  }
  // y = a * b, element-wise (dropout and its backward).
  template <class S>
  static void multiply(context& ctx, ConstView<S> a, ConstView<S> b, MatrixView<S> y) {
    elementwise(ctx, y.rows, y.cols, [&](auto part) {
      const auto ya = part(a), yb = part(b);
      const auto yy = part(y);
      for (Index j = 0; j < yy.cols; ++j) col(yy, j) = col(ya, j) * col(yb, j);
    });
  }
  template <class S>
  static void exp(context&, ConstView<S> x, MatrixView<S> y) {
    for (Index j = 0; j < y.cols; ++j) for_segments<S>(y.rows, [&](auto s) { s(y, j) = s(x, j).exp(); });
  }
  // z = mean + sqrt(exp(logvar) + var_min) * eps: the variance-floored
  // reparameterised sample.
  template <class S>
  static void gaussian_sample(context&, ConstView<S> mean, ConstView<S> logvar, ConstView<S> eps, S var_min,
                              MatrixView<S> z) {
    for (Index j = 0; j < z.cols; ++j)
      for_segments<S>(z.rows, [&](auto s) {
        s(z, j) = s(mean, j) + (s(logvar, j).exp() + var_min).sqrt() * s(eps, j);
      });
  }
  // d_mean += dz; d_logvar += dz * eps * exp(logvar) / (2 sqrt(exp(logvar) + var_min)).
  template <class S>
  static void gaussian_sample_backward(context&, ConstView<S> dz, ConstView<S> logvar, ConstView<S> eps,
                                       S var_min, MatrixView<S> d_mean, MatrixView<S> d_logvar) {
    for (Index j = 0; j < dz.cols; ++j)
      for_segments<S>(dz.rows, [&](auto s) {
        const auto v = s(logvar, j).exp();
        s(d_mean, j) += s(dz, j);
        s(d_logvar, j) += s(dz, j) * s(eps, j) * S(0.5) * v / (v + var_min).sqrt();
      });
  }
  // scale * sum of KL(N(mean, e^logvar + var_min) || N(prior_mean,
  // e^prior_logvar + var_min)) over every element (the prior's (rows x 1)
  // broadcast over columns), as the tutorial's kl_gauss_gauss. Writes the
  // scaled gradients for mean and logvar and, per element, for the prior's
  // logvar (the prior mean's is minus d_mean's row sums).
  template <class S>
  static S kl_gauss_gauss(context&, ConstView<S> mean, ConstView<S> logvar, ConstView<S> prior_mean,
                          ConstView<S> prior_logvar, S var_min, S scale, MatrixView<S> d_mean,
                          MatrixView<S> d_logvar, MatrixView<S> d_prior_logvar) {
    double total = 0;
    const auto pm = col(prior_mean, 0);
    const Eigen::Array<S, Eigen::Dynamic, 1> pv = col(prior_logvar, 0).exp(), p_var = pv + var_min,
                                             p_lv = p_var.log();
    for (Index j = 0; j < mean.cols; ++j) {
      const auto v = col(logvar, j).exp();
      const Eigen::Array<S, Eigen::Dynamic, 1> var = v + var_min, ratio = var / p_var,
                                               diff = col(mean, j) - pm, d2 = diff.square() / p_var;
      total += double((p_lv - var.log() + ratio + d2 - S(1)).sum());
      col(d_mean, j) = scale * diff / p_var;
      col(d_logvar, j) = scale * S(0.5) * (ratio - S(1)) * v / var;
      col(d_prior_logvar, j) = scale * S(0.5) * (S(1) - ratio - d2) * pv / p_var;
    }
    return scale * S(0.5 * total);
  }
  // scale * the one-sample KL of the posterior q(z) (mean, logvar: (I x T*B),
  // time-major blocks of B columns) against the AR(1) prior, summed over
  // time, dimensions and trials, exactly as the tutorial's kl_gauss_ar1: z
  // = gaussian_sample(mean, logvar, eps); log q with the unfloored logvar
  // in front; noise log-variance lognvar + var_min (the seed's
  // log(exp(lognvar + var_min))), phi = exp(-exp(-logatau)), process
  // log-variance = that - log(1 - phi^2), and log p(z_t | z_{t-1}) =
  // log N(z_t; mean + phi z_{t-1}, noise variance). Writes the scaled
  // gradients for mean and logvar (I x T*B) and, per (dimension, trial),
  // the prior's in d_prior (3I x B: mean, logatau, lognvar rows).
  template <class S>
  static S kl_gauss_ar1(context&, ConstView<S> mean, ConstView<S> logvar, ConstView<S> eps, ConstView<S> ar_mean,
                        ConstView<S> ar_logatau, ConstView<S> ar_lognvar, S var_min, S scale, Index steps,
                        MatrixView<S> d_mean, MatrixView<S> d_logvar, MatrixView<S> d_prior) {
    const Index dims = mean.rows, trials = steps > 0 ? mean.cols / steps : 0;
    double total = 0;
    for (Index b = 0; b < trials; ++b)
      for (Index i = 0; i < dims; ++i) {
        const auto series = [&](auto v) {
          return Series<std::remove_pointer_t<decltype(v.data)>>{v.data + i + b * v.ld, trials * v.ld};
        };
        S* prior = d_prior.data + b * d_prior.ld;
        total += double(ar1_kl_trial<S>(series(mean), series(logvar), series(eps), ar_mean.data[i],
                                        ar_logatau.data[i], ar_lognvar.data[i], var_min, scale, steps,
                                        series(d_mean), series(d_logvar), prior[i], prior[dims + i],
                                        prior[2 * dims + i]));
      }
    return S(total);
  }
  // scale * sum(exp(lograte) - counts * lograte): the Poisson negative log
  // likelihood without its log(counts!) term; d_lograte = scale * (exp(lograte) - counts).
  template <class S>
  static S poisson_nll(context&, ConstView<S> lograte, ConstView<S> counts, S scale, MatrixView<S> d_lograte) {
    double total = 0;
    assert(d_lograte.data != lograte.data && d_lograte.data != counts.data);
    for (Index j = 0; j < lograte.cols; ++j)
      for_segments<S>(lograte.rows, [&](auto s) {
        const auto lr = s(lograte, j), x = s(counts, j);
        auto d = s(d_lograte, j);
        d = lr.exp();  // the rate, then its gradient
        total += double((d - x * lr).sum());
        d = scale * (d - x);
      });
    return scale * S(total);
  }
  // w_hat = w with unit-norm rows; norms (rows x 1) = the rows' norms.
  template <class S>
  static void normalize_rows(context&, ConstView<S> w, MatrixView<S> norms, MatrixView<S> w_hat) {
    map(norms).col(0) = map(w).rowwise().norm();
    map(w_hat) = map(norms).col(0).asDiagonal().inverse() * map(w);
  }
  // d_w = (d_w_hat - w_hat * rowsum(d_w_hat * w_hat)) / norms.
  template <class S>
  static void normalize_rows_backward(context&, ConstView<S> d_w_hat, ConstView<S> w_hat, ConstView<S> norms,
                                      MatrixView<S> d_w) {
    const Eigen::Matrix<S, Eigen::Dynamic, 1> along = map(d_w_hat).cwiseProduct(map(w_hat)).rowwise().sum();
    map(d_w) = map(norms).col(0).asDiagonal().inverse() *
               (map(d_w_hat) - along.asDiagonal() * map(w_hat));
  }
};

// One RLS sample (force/rls.hpp) through B's own products. P = P0 - U U^T:
// p's lower triangle holds P0, and the first j columns of pending (n x
// (j + 1)) hold U, the samples not yet applied to it. Then
//   k = P0 h - U (U^T h)  (work's first n rows),  c = 1 / (1 + h.k),
//   readout -= c error k^T,  pending's last column = sqrt(c) k,
// which makes it P0 - U U^T with one column more. work is (n + 2 + j) x 1:
// row n holds -c and row n + 1 sqrt(c) (the CUDA backend keeps them on the
// device, so that a FORCE step never waits for the host), the rows after
// them U^T h. A backend derived from cpu with its own symv and gemv (the
// two-thread one of benchmarks/bench_force.cpp) runs its update through it with
// rls_update_by_parts<itself>.
template <class B, class S>
void rls_update_by_parts(typename B::context& ctx, MatrixView<S> p, MatrixView<S> pending, MatrixView<S> work,
                         ConstView<S> h, ConstView<S> error, MatrixView<S> readout) {
  const Index n = p.rows, j = pending.cols - 1;
  assert(p.cols == n && pending.rows == n && j >= 0 && work.rows >= n + 2 + j && h.rows == n &&
         readout.cols == n && error.rows == readout.rows);
  const MatrixView<S> k = work.row_block(0, n), u_h = work.row_block(n + 2, j);
  const auto u = pending.col_block(0, j);
  B::symv(ctx, S(1), p, h, S(0), k);
  if (j > 0) {
    B::gemv(ctx, Trans::yes, S(1), u, h, S(0), u_h);
    B::gemv(ctx, Trans::no, S(-1), u, u_h, S(1), k);
  }
  const S c = S(1) / (S(1) + B::dot(ctx, h, k));
  B::ger(ctx, -c, error, k, readout);
  const MatrixView<S> added = pending.col_block(j, 1);
  B::copy(ctx, k, added);
  B::scale(ctx, std::sqrt(c), added);
}

template <class S>
void cpu::rls_update(context& ctx, MatrixView<S> p, MatrixView<S> pending, MatrixView<S> work, ConstView<S> h,
                     ConstView<S> error, MatrixView<S> readout) {
  rls_update_by_parts<cpu>(ctx, p, pending, work, h, error, readout);
}

static_assert(Backend<cpu>);

}  // namespace ctd
