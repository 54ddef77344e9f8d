// Reading trained networks (cell type from the keys) and candidate states
// for the fixed-point analysis: good files load, bad ones are clear errors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/io/states_file.hpp"
#include "ctd/io/trained_network.hpp"

using namespace ctd;

namespace {

io::Array ramp(std::vector<std::size_t> shape, float start = 0.f) {
  std::vector<float> v(io::detail::product(shape));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = start + 0.01f * float(i);
  return io::Array{std::move(shape), std::move(v)};
}

// A GRU with n = 4, u = 2, o = 3 in the tutorials' layout, saved and read
// back, so messages name a real file.
io::Dict gru_file(const std::function<void(io::Dict&)>& edit = {}) {
  io::Dict d;
  d.set("h0", ramp({4}));
  d.set("wRUHX", ramp({8, 6}));
  d.set("wCHX", ramp({4, 6}));
  d.set("bRU", ramp({8}));
  d.set("bC", ramp({4}));
  d.set("wO", ramp({3, 4}));
  d.set("bO", ramp({3}));
  if (edit) edit(d);
  const auto file = std::filesystem::temp_directory_path() / "ctd_test_trained_network.h5";
  io::write_h5(file, d);
  return io::read_h5(file);
}

std::string load_error(const io::Dict& dict) {
  try {
    cpu::context ctx;
    io::load_network<cpu, float>(ctx, dict, io::network_shape(dict));
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("trained networks: the cell type and sizes follow from the keys", "[io][fixed_points]") {
  cpu::context ctx;
  const io::Dict gru = gru_file();
  const io::NetworkShape net = io::network_shape(gru);
  CHECK(net.cell == io::CellType::gru);
  CHECK(net.state_size == 4);
  CHECK(net.input_size == 2);
  CHECK(net.output_size == 3);
  auto params = io::load_network<cpu, double>(ctx, gru, net);
  // Row-major (4, 6) in the file, element (1, 5) = 0.01 * (1*6 + 5).
  CHECK(download<cpu, double>(ctx, params.value("wCHX"))(1, 5) == Approx(0.11));

  io::Dict vanilla;
  vanilla.set("h0", ramp({5}));
  vanilla.set("wI", ramp({5, 1}));
  vanilla.set("wR", ramp({5, 5}));
  vanilla.set("bR", ramp({5}));
  vanilla.set("wO", ramp({1, 5}));
  vanilla.set("bO", ramp({1}));
  const io::NetworkShape vnet = io::network_shape(vanilla);
  CHECK(vnet.cell == io::CellType::vanilla);
  CHECK(vnet.state_size == 5);
  CHECK(vnet.input_size == 1);
  CHECK(load_error(vanilla) == "no error");
}

TEST_CASE("trained networks: unknown, missing or inconsistent keys are clear errors", "[io][fixed_points]") {
  CHECK_THAT(load_error(gru_file([](io::Dict& d) { d.set("wX", ramp({2})); })),
             Catch::Contains("ctd_test_trained_network.h5: key 'wX' is not a parameter of a GRU"));
  CHECK_THAT(load_error(gru_file([](io::Dict& d) { d.set("wR", ramp({4, 4})); })),
             Catch::Contains("key 'wR' is not a parameter of a GRU"));
  io::Dict missing = gru_file();
  io::Dict without_bC(missing.source());
  for (const auto& k : missing.keys())
    if (k != "bC") without_bC.set(k, missing.at(k));
  CHECK_THAT(load_error(without_bC), Catch::Contains("key 'bC': missing"));
  CHECK_THAT(load_error(gru_file([](io::Dict& d) { d.set("wCHX", ramp({4, 7})); })),
             Catch::Contains("key 'wCHX': expected shape (4, 6), found (4, 7)"));
  CHECK_THAT(load_error(gru_file([](io::Dict& d) { d.set("bRU", ramp({4})); })),
             Catch::Contains("key 'bRU': expected shape (8,), found (4,)"));
  CHECK_THAT(load_error(gru_file([](io::Dict& d) { d.set("h0", ramp({4, 1})); })),
             Catch::Contains("key 'h0': expected a rank-1 array, found shape (4, 1)"));
  CHECK_THAT(load_error(gru_file([](io::Dict& d) {
               auto a = ramp({4, 6});
               std::get<0>(a.data)[7] = std::nanf("");
               d.set("wCHX", a);
             })),
             Catch::Contains("key 'wCHX' holds NaN"));
  io::Dict other;
  other.set("weights", ramp({3, 3}));
  CHECK_THAT(load_error(other), Catch::Contains("cannot tell the cell type"));
}

TEST_CASE("candidate states: (N, n) or (B, T, n), dimension checked", "[io][fixed_points]") {
  io::Dict d("states.h5");
  d.set("points", ramp({3, 4}));
  d.set("hiddens", ramp({2, 3, 4}));
  const HostMatrix<float> points = io::read_states<float>(d, "points", 4);
  CHECK(points.rows() == 4);
  CHECK(points.cols() == 3);
  CHECK(points(1, 2) == Approx(0.01 * (2 * 4 + 1)));
  const HostMatrix<float> hiddens = io::read_states<float>(d, "hiddens", 4);
  CHECK(hiddens.cols() == 6);
  CHECK(hiddens(3, 4) == Approx(0.01 * ((1 * 3 + 1) * 4 + 3)));  // trial 1, step 1, unit 3
  CHECK_THROWS_WITH(io::read_states<float>(d, "points", 5),
                    Catch::Contains("states.h5: key 'points': the states have dimension 4 but the network has 5 units"));
  CHECK_THROWS_WITH(io::read_states<float>(d, "absent", 4), Catch::Contains("key 'absent': missing"));
  auto bad = ramp({2, 4});
  std::get<0>(bad.data)[5] = std::nanf("");
  d.set("nan", bad);
  CHECK_THROWS_WITH(io::read_states<float>(d, "nan", 4), Catch::Contains("key 'nan' holds NaN"));
}
