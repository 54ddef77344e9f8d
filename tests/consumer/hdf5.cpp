// ctd::hdf5 from the installed package: parameters written as the tutorial's
// dict and read back bit for bit.
#include <cstdio>

#include <ctd/ctd.hpp>
#include <ctd/io/parameters_io.hpp>

int main() {
  using namespace ctd;
  cpu::context ctx;
  Rng rng(7);
  RnnRegressor<GruCell, cpu, float> model(8, 1, 1);
  model.initialize(ctx, rng, {});
  io::Dict written;
  io::save_parameters(ctx, model.parameters(), written);
  io::write_h5("ctd_consumer_params.h5", written);
  const io::Dict read = io::read_h5("ctd_consumer_params.h5");
  for (const std::string& key : written.keys())
    if (read.get<float>(key) != written.get<float>(key)) {
      std::printf("consumer (hdf5): key %s differs after the round trip\n", key.c_str());
      return 1;
    }
  std::printf("consumer (hdf5): %zu arrays written and read back\n", written.keys().size());
  return 0;
}
