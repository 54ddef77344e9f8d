#pragma once
// One batch of LFADS's inputs on the backend: the encoder's spikes, the
// reconstruction targets and the measured inputs, as (dim x T*B) time-major
// column blocks like every sequence in the library.
#include <vector>

#include "ctd/core/matrix.hpp"
#include "ctd/lfads/config.hpp"
#include "ctd/lfads/trials.hpp"

namespace ctd {

template <class S>
struct LfadsInputs {
  ConstView<S> encod;  // (data x Te*B)
  ConstView<S> recon;  // (readout x T*B), T >= Te
  ConstView<S> ext;    // (ext x T*B); no rows without external inputs
  Index encod_steps = 0, steps = 0, batch = 0;

  // The tutorial's case: the encoder's spikes are the targets.
  static LfadsInputs spikes(ConstView<S> counts, Index T, Index batch) {
    return {counts, counts, ConstView<S>(nullptr, 0, T * batch), T, T, batch};
  }

  void validate(const LfadsConfig& c) const {
    const auto dims = [](ConstView<S> v) { return "(" + std::to_string(v.rows) + " x " + std::to_string(v.cols) + ")"; };
    require(encod_steps > 0 && batch > 0 && steps >= encod_steps,
            "LFADS: expected encoder bins <= bins, both positive, and a positive batch");
    require(c.ic_steps(encod_steps) <= encod_steps, "LFADS: the IC window (" + std::to_string(c.ic_window) +
                                                        " bins) is longer than the encoder's " +
                                                        std::to_string(encod_steps) + " bins");
    require(encod.rows == c.data_dim && encod.cols == encod_steps * batch,
            "LFADS: expected encoder data (" + std::to_string(c.data_dim) + " x Te*B), got " + dims(encod));
    require(recon.rows == c.readout_dim() && recon.cols == steps * batch,
            "LFADS: expected reconstruction data (" + std::to_string(c.readout_dim()) + " x T*B), got " + dims(recon));
    require(ext.rows == c.ext_input_dim && ext.cols == steps * batch,
            "LFADS: expected external inputs (" + std::to_string(c.ext_input_dim) + " x T*B), got " + dims(ext));
  }
};

// A batch gathered from an LfadsData on the host and uploaded.
template <class B, class S>
class LfadsBatch {
 public:
  // The listed trials, each `copies` times in a row (posterior sampling).
  void load(typename B::context& ctx, const LfadsData<S>& data, const std::vector<Index>& ids, Index copies = 1) {
    batch_ = Index(ids.size()) * copies;
    encod_steps_ = data.encod_steps();
    steps_ = data.steps();
    const auto put = [&](const TrialArray<S>& a, Matrix<B, S>& m) {
      a.gather(ids, copies, host_);
      m.resize(host_.rows(), host_.cols());
      upload<B, S>(ctx, host_, m.view());
    };
    put(data.encod, encod_);
    has_recon_ = !data.recon.empty();
    if (has_recon_) put(data.recon, recon_);
    if (data.ext.empty())
      ext_.resize(0, steps_ * batch_);
    else
      put(data.ext, ext_);
  }

  LfadsInputs<S> inputs() const {
    return {encod_.view(), has_recon_ ? recon_.view() : encod_.view(), ext_.view(), encod_steps_, steps_, batch_};
  }

 private:
  Matrix<B, S> encod_, recon_, ext_;
  HostMatrix<S> host_;
  Index encod_steps_ = 0, steps_ = 0, batch_ = 0;
  bool has_recon_ = false;
};

}  // namespace ctd
