#pragma once
// A recorded sequence of CUDA backend operations, replayed with one launch.
//
// A recurrent time loop is dozens of small kernels per step; launching them
// one by one costs a few microseconds each on the host. Capturing the loop
// once (e.g. a cell's forward over T steps) and replaying it as a CUDA graph
// submits all of them at once. A replay repeats exactly what was recorded:
// the same buffers, shapes and scalars (new data in the same buffers is
// fine; workspaces must not be reallocated in between). Random fills are
// the exception: a recorded fill_normal or fill_dropout_mask draws new
// numbers at every replay (the context's replay counter, see kernels.cu),
// where an eager fill draws the CPU backend's. Operations that
// return a value to the host (sum_squares, dot, masked_mse, host copies)
// cannot be recorded: capturing one throws.
#include <cstddef>
#include <memory>
#include <vector>

#include <cuda_runtime_api.h>

#include "ctd/backend/cuda/context.hpp"
#include "ctd/backend/cuda/error.hpp"

namespace ctd {

class CudaGraph {
 public:
  // Records what enqueue() puts on ctx's stream (nothing runs) and makes
  // it ready to launch on that context; replaces an earlier recording, which
  // is gone even when this capture fails.
  template <class Enqueue>
  void capture(CudaContext& ctx, Enqueue&& enqueue) {
    exec_.reset();
    graph_.reset();
    stream_ = nullptr;
    CTD_CUDA_CHECK(cudaStreamBeginCapture(ctx.stream(), cudaStreamCaptureModeThreadLocal));
    try {
      enqueue();
    } catch (...) {
      // Leave the stream usable; the exception says what could not be recorded.
      cudaGraph_t partial = nullptr;
      cudaStreamEndCapture(ctx.stream(), &partial);
      if (partial) cudaGraphDestroy(partial);
      cudaGetLastError();
      throw;
    }
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(ctx.stream(), &graph);
    if (ended == cudaErrorStreamCaptureInvalidated) {
      cudaGetLastError();
      throw Error(
          "CudaGraph::capture: the recording was invalidated by a call that cannot be recorded: an allocation "
          "(a buffer first sized inside enqueue; run the work once eagerly first), a copy to or from the host, "
          "or work on another stream");
    }
    CTD_CUDA_CHECK(ended);
    graph_.reset(graph);
    cudaGraphExec_t exec = nullptr;
    CTD_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    exec_.reset(exec);
    stream_ = ctx.stream();
  }

  // Enqueues the recorded work on the stream of the context that recorded
  // it: the recording uses that context's reduction buffers, replay counter
  // and cuBLAS workspace, which another context's stream would race with.
  void launch(CudaContext& ctx) const {
    require(exec_ != nullptr, "CudaGraph::launch: nothing has been captured");
    require(ctx.stream() == stream_, "CudaGraph::launch: the graph was recorded on another context");
    CTD_CUDA_CHECK(cudaGraphLaunch(exec_.get(), ctx.stream()));
  }

  // Kernels in the recording (cuBLAS's included): the launches one replay
  // stands for.
  std::size_t kernel_count() const {
    if (!graph_) return 0;
    std::size_t count = 0;
    CTD_CUDA_CHECK(cudaGraphGetNodes(graph_.get(), nullptr, &count));
    std::vector<cudaGraphNode_t> nodes(count);
    CTD_CUDA_CHECK(cudaGraphGetNodes(graph_.get(), nodes.data(), &count));
    std::size_t kernels = 0;
    for (auto node : nodes) {
      cudaGraphNodeType type;
      CTD_CUDA_CHECK(cudaGraphNodeGetType(node, &type));
      if (type == cudaGraphNodeTypeKernel) ++kernels;
    }
    return kernels;
  }

 private:
  // Releases ignore errors, as everywhere in the backend's destructors.
  struct GraphRelease {
    void operator()(cudaGraph_t g) const { cudaGraphDestroy(g); }
  };
  struct ExecRelease {
    void operator()(cudaGraphExec_t e) const { cudaGraphExecDestroy(e); }
  };
  std::unique_ptr<CUgraph_st, GraphRelease> graph_;
  std::unique_ptr<CUgraphExec_st, ExecRelease> exec_;
  cudaStream_t stream_ = nullptr;  // the recording context's
};

}  // namespace ctd
