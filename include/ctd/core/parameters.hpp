#pragma once
// All parameters of a model live in one contiguous buffer (and their
// gradients in another), with a named view per tensor. Global-norm clipping,
// L2, Adam and checkpointing then each work on a single vector, one fused
// pass on either device, whatever the model.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctd/core/error.hpp"
#include "ctd/core/matrix.hpp"

namespace ctd {

// One named tensor. `vector` tensors are (rows x 1) in memory and rank 1 in
// files, as the Python tutorials store h0 and biases.
struct ParamSpec {
  std::string name;
  Index rows = 0;
  Index cols = 1;
  bool vector = false;
};

inline ParamSpec matrix_param(std::string_view name, Index rows, Index cols) {
  return {std::string(name), rows, cols, false};
}
inline ParamSpec vector_param(std::string_view name, Index rows) {
  return {std::string(name), rows, 1, true};
}

// Prefixes every name ("enc/" + "wRUHX"): nested models, nested HDF5 groups.
inline std::vector<ParamSpec> prefixed(std::vector<ParamSpec> specs, const std::string& prefix) {
  for (auto& s : specs) s.name = prefix + s.name;
  return specs;
}

template <class B, class S>
class Parameters {
 public:
  explicit Parameters(std::vector<ParamSpec> specs) : specs_(std::move(specs)) {
    Index total = 0;
    for (const auto& s : specs_) {
      offsets_.push_back(total);
      total += s.rows * s.cols;
    }
    values_.resize(total, 1);
    grads_.resize(total, 1);
  }

  const std::vector<ParamSpec>& specs() const { return specs_; }
  Index total_size() const { return values_.rows(); }

  Index find(const std::string& name) const {
    for (std::size_t i = 0; i < specs_.size(); ++i)
      if (specs_[i].name == name) return static_cast<Index>(i);
    throw Error("no parameter named '" + name + "'");
  }
  MatrixView<S> value(const std::string& name) { return tensor(values_, find(name)); }
  MatrixView<S> grad(const std::string& name) { return tensor(grads_, find(name)); }
  MatrixView<S> value(Index i) { return tensor(values_, i); }
  MatrixView<S> grad(Index i) { return tensor(grads_, i); }
  ConstView<S> value(Index i) const { return const_cast<Parameters*>(this)->value(i); }

  // The whole buffer as one (total x 1) column.
  MatrixView<S> values() { return values_.view(); }
  MatrixView<S> grads() { return grads_.view(); }
  ConstView<S> values() const { return values_.view(); }
  ConstView<S> grads() const { return grads_.view(); }

 private:
  MatrixView<S> tensor(Matrix<B, S>& m, Index i) {
    const auto& s = specs_.at(static_cast<std::size_t>(i));
    return {m.data() + offsets_[static_cast<std::size_t>(i)], s.rows, s.cols, s.rows};
  }

  std::vector<ParamSpec> specs_;
  std::vector<Index> offsets_;
  Matrix<B, S> values_, grads_;
};

}  // namespace ctd
