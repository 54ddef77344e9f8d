// Tests for ctd/io/h5_dict.hpp (SPEC §8): round trips, atomic writes, a clear
// ctd::Error for every bad input, and interop with h5py both ways.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "ctd/io/h5_dict.hpp"
#include "error_of.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ctd::io::any_dim;
using ctd::io::Array;
using ctd::io::Dict;
using ctd::io::DType;

using ctd::testing::error_of;
using ctd::testing::TempDir;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

template <class T>
std::vector<T> iota_values(std::size_t n, T scale) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>(i) * scale;
  return v;
}

// The dict used by the round-trip and h5py-read tests: flat and nested keys,
// all three dtypes, scalars and an empty array.
Dict sample_dict() {
  Dict d;
  d.set<float>("w", {2, 3}, iota_values<float>(6, 0.5f));
  d.set<double>("b", {3}, {-1.25, 0.0, 1e-300});
  d.set<std::int64_t>("counts", {2, 2}, {0, 7, -3, std::numeric_limits<std::int64_t>::max()});
  d.set<float>("ic_enc/fwd_rnn/wRUHX", {3, 2}, iota_values<float>(6, -0.25f));
  d.set<double>("ic_enc/scale", {}, {3.5});
  d.set<std::int64_t>("n", {}, {42});
  d.set<float>("empty", {0, 3}, {});
  return d;
}

void require_same(const Dict& a, const Dict& b) {
  REQUIRE(a.keys() == b.keys());
  for (const std::string& k : a.keys()) {
    INFO("key " << k);
    CHECK(a.at(k).shape == b.at(k).shape);
    CHECK(a.at(k).dtype() == b.at(k).dtype());
    CHECK(a.at(k).data == b.at(k).data);
  }
}

// Runs /usr/bin/python3 (the system python that has h5py, not pyenv's) on a
// script; on failure the script's output is shown.
void run_python(const TempDir& dir, const std::string& script, const fs::path& h5file) {
  const fs::path py = dir.path / "check.py";
  const fs::path log = dir.path / "python.log";
  std::ofstream(py) << script;
  const std::string cmd = "/usr/bin/python3 '" + py.string() + "' '" + h5file.string() + "' > '" +
                          log.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  INFO("python output:\n" << read_text(log));
  REQUIRE(rc == 0);
}

}  // namespace

TEST_CASE("h5_dict: Array and Dict basics", "[io][h5]") {
  Dict d = sample_dict();
  CHECK(d.source().empty());
  CHECK(d.keys() == std::vector<std::string>{"b", "counts", "empty", "ic_enc/fwd_rnn/wRUHX", "ic_enc/scale", "n", "w"});
  CHECK(d.at("w").dtype() == DType::f32);
  CHECK(d.at("b").dtype() == DType::f64);
  CHECK(d.at("counts").dtype() == DType::i64);
  CHECK(d.at("n").size() == 1);
  CHECK(d.contains("ic_enc/scale"));
  CHECK_FALSE(d.contains("ic_enc"));

  // set replaces
  d.set<double>("w", {1}, {9.0});
  CHECK(d.get<double>("w", {1}) == std::vector<double>{9.0});

  // shape/value count mismatch and malformed keys are refused
  CHECK_THAT(error_of([&] { d.set<float>("x", {2, 3}, {1, 2, 3}); }), Contains("'x'") && Contains("(2, 3)"));
  CHECK_THAT(error_of([&] { d.set<float>("/x", {}, {1}); }), Contains("'/x'"));
  CHECK_THAT(error_of([&] { d.set<float>("a//b", {}, {1}); }), Contains("'a//b'"));

  // reads convert: int64 -> floating is allowed, any_dim matches any extent
  CHECK(d.get<double>("counts", {2, any_dim})[1] == 7.0);
  CHECK(d.get<float>("ic_enc/scale", {}) == std::vector<float>{3.5f});
  CHECK(d.get<float>("empty", {any_dim, 3}).empty());
}

TEST_CASE("h5_dict: round trip of flat and nested keys in f32/f64/i64 incl. scalars", "[io][h5]") {
  TempDir dir;
  const fs::path file = dir.path / "params.h5";
  const Dict d = sample_dict();
  ctd::io::write_h5(file, d);
  const Dict back = ctd::io::read_h5(file);
  CHECK(back.source() == file.string());
  require_same(d, back);
  CHECK(back.get<float>("ic_enc/fwd_rnn/wRUHX", {3, 2}) == iota_values<float>(6, -0.25f));
  CHECK(back.get<std::int64_t>("n", {}) == std::vector<std::int64_t>{42});
}

TEST_CASE("h5_dict: write is atomic and overwrites", "[io][h5]") {
  TempDir dir;
  const fs::path file = dir.path / "model.h5";
  ctd::io::write_h5(file, sample_dict());
  CHECK(dir.entries() == std::vector<std::string>{"model.h5"});  // no temp file left

  Dict second;
  second.set<double>("only", {2}, {1.0, 2.0});
  ctd::io::write_h5(file, second);
  CHECK(dir.entries() == std::vector<std::string>{"model.h5"});
  require_same(second, ctd::io::read_h5(file));

  SECTION("a failed write leaves the old file and no temp file") {
    Dict clash;  // "a" is a dataset, so "a/b" cannot be created under it
    clash.set<float>("a", {}, {1});
    clash.set<float>("a/b", {}, {2});
    const std::string msg = error_of([&] { ctd::io::write_h5(file, clash); });
    CHECK_THAT(msg, Contains(file.string()) && Contains("'a/b'"));
    CHECK(dir.entries() == std::vector<std::string>{"model.h5"});
    require_same(second, ctd::io::read_h5(file));
  }
  SECTION("writing into a missing directory names the file") {
    const fs::path bad = dir.path / "no_such_dir" / "x.h5";
    CHECK_THAT(error_of([&] { ctd::io::write_h5(bad, second); }), Contains(bad.string()));
    CHECK(dir.entries() == std::vector<std::string>{"model.h5"});
  }
}

TEST_CASE("h5_dict: bad inputs give ctd::Error naming file and key", "[io][h5]") {
  TempDir dir;

  SECTION("missing file") {
    const fs::path missing = dir.path / "missing.h5";
    CHECK_THAT(error_of([&] { ctd::io::read_h5(missing); }), Contains(missing.string()) && Contains("not found"));
  }
  SECTION("not an HDF5 file") {
    const fs::path text = dir.path / "notes.h5";
    std::ofstream(text) << "this is not HDF5\n";
    CHECK_THAT(error_of([&] { ctd::io::read_h5(text); }), Contains(text.string()) && Contains("not an HDF5 file"));
  }

  const fs::path file = dir.path / "params.h5";
  Dict d;
  d.set<float>("wR", {100, 99}, std::vector<float>(9900, 0.5f));
  d.set<float>("x", {20}, iota_values<float>(20, 1.0f));
  d.set<double>("inf", {2, 2}, {0, 0, 0, -std::numeric_limits<double>::infinity()});
  d.set<std::int64_t>("counts", {3}, {1, 2, 3});
  {
    std::vector<float> x = iota_values<float>(20, 1.0f);
    x[17] = std::numeric_limits<float>::quiet_NaN();
    d.set<float>("nan", {20}, x);
  }
  ctd::io::write_h5(file, d);
  const Dict in = ctd::io::read_h5(file);
  const std::string f = file.string();

  SECTION("missing key lists the keys present") {
    CHECK_THAT(error_of([&] { in.at("wX"); }),
               Contains(f) && Contains("'wX'") && Contains("'wR'") && Contains("'counts'"));
    CHECK_THAT(error_of([&] { in.get<float>("wX", {1}); }), Contains(f) && Contains("'wX'"));
  }
  SECTION("wrong shape") {
    CHECK_THAT(error_of([&] { in.get<float>("wR", {100, 100}); }),
               Contains(f + ": key 'wR': expected shape (100, 100), found (100, 99)"));
    CHECK_THAT(error_of([&] { in.get<float>("x", {20, any_dim}); }),
               Contains("'x'") && Contains("expected shape (20, ?), found (20,)"));
    CHECK_THAT(error_of([&] { in.get<float>("x", {}); }), Contains("expected shape ()"));
  }
  SECTION("wrong dtype") {
    CHECK_THAT(error_of([&] { in.get<std::int64_t>("x", {20}); }),
               Contains(f) && Contains("'x'") && Contains("expected integer dataset, found float32"));
    CHECK_THAT(error_of([&] { in.get<std::int64_t>("inf"); }), Contains("found float64"));
  }
  SECTION("NaN and Inf") {
    CHECK_THAT(error_of([&] { in.get<float>("nan", {20}); }), Contains(f + ": key 'nan' holds NaN at flat index 17"));
    CHECK_THAT(error_of([&] { in.get<double>("nan"); }), Contains("NaN at flat index 17"));
    CHECK_THAT(error_of([&] { in.get<double>("inf", {2, 2}); }),
               Contains(f) && Contains("'inf'") && Contains("-Inf at flat index 3"));
    // float64 values that overflow float32 are caught after conversion
    Dict big(f);
    big.set<double>("big", {1}, {1e300});
    CHECK_THAT(error_of([&] { big.get<float>("big"); }), Contains("'big' holds Inf at flat index 0"));
    CHECK(big.get<double>("big") == std::vector<double>{1e300});
  }
}

TEST_CASE("h5_dict: interop with h5py", "[io][h5][h5py]") {
  if (std::system("/usr/bin/python3 -c 'import h5py, numpy' > /dev/null 2>&1") != 0)
    FAIL("h5py is not available to /usr/bin/python3: install python3-h5py (apt-get install python3-h5py)");
  TempDir dir;

  SECTION("a file written by h5py from a nested dict loads exactly") {
    const fs::path file = dir.path / "from_numpy.h5";
    run_python(dir, R"(
import sys, h5py, numpy as np
data = {
    'spikes': np.arange(24, dtype=np.int64).reshape(2, 3, 4),
    'small': np.arange(4, dtype=np.int32),
    'bias': np.arange(5, dtype=np.float64) * 0.1,
    'dt': np.float64(0.01),
    'ic_enc': {'fwd_rnn': {'wRUHX': (np.arange(6, dtype=np.float32).reshape(2, 3) - np.float32(2.5)) / np.float32(4)}},
}
def put(group, d):
    for k, v in d.items():
        if isinstance(v, dict):
            put(group.create_group(k), v)
        else:
            group[k] = v
with h5py.File(sys.argv[1], 'w') as f:
    put(f, data)
)", file);
    const Dict in = ctd::io::read_h5(file);
    CHECK(in.keys() == std::vector<std::string>{"bias", "dt", "ic_enc/fwd_rnn/wRUHX", "small", "spikes"});

    CHECK(in.at("spikes").dtype() == DType::i64);
    std::vector<std::int64_t> spikes(24);
    for (std::size_t i = 0; i < 24; ++i) spikes[i] = static_cast<std::int64_t>(i);
    CHECK(in.get<std::int64_t>("spikes", {2, 3, 4}) == spikes);

    CHECK(in.at("small").dtype() == DType::i64);  // int32 widened
    CHECK(in.get<std::int64_t>("small", {4}) == std::vector<std::int64_t>{0, 1, 2, 3});

    CHECK(in.at("bias").dtype() == DType::f64);
    CHECK(in.get<double>("bias", {5}) == iota_values<double>(5, 0.1));

    CHECK(in.at("dt").dtype() == DType::f64);
    CHECK(in.at("dt").shape.empty());
    CHECK(in.get<double>("dt", {}) == std::vector<double>{0.01});

    CHECK(in.at("ic_enc/fwd_rnn/wRUHX").dtype() == DType::f32);
    std::vector<float> w(6);
    for (std::size_t i = 0; i < 6; ++i) w[i] = (static_cast<float>(i) - 2.5f) / 4.0f;
    CHECK(in.get<float>("ic_enc/fwd_rnn/wRUHX", {2, 3}) == w);
  }

  SECTION("a file we write loads in h5py with the same keys, shapes, dtypes and values") {
    const fs::path file = dir.path / "ours.h5";
    ctd::io::write_h5(file, sample_dict());
    run_python(dir, R"(
import sys, h5py, numpy as np
expect = {
    'w': np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.5),
    'b': np.array([-1.25, 0.0, 1e-300], dtype=np.float64),
    'counts': np.array([[0, 7], [-3, 2**63 - 1]], dtype=np.int64),
    'ic_enc/fwd_rnn/wRUHX': np.arange(6, dtype=np.float32).reshape(3, 2) * np.float32(-0.25),
    'ic_enc/scale': np.array(3.5, dtype=np.float64),
    'n': np.array(42, dtype=np.int64),
    'empty': np.zeros((0, 3), dtype=np.float32),
}
def check(ok, msg):
    if not ok:
        sys.exit('mismatch: ' + msg)
with h5py.File(sys.argv[1], 'r') as f:
    found = []
    f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
    check(sorted(found) == sorted(expect), 'keys %s vs %s' % (sorted(found), sorted(expect)))
    check(isinstance(f['ic_enc'], h5py.Group) and isinstance(f['ic_enc/fwd_rnn'], h5py.Group), 'nested groups')
    for key, want in expect.items():
        got = f[key]
        check(got.shape == want.shape, '%s shape %s vs %s' % (key, got.shape, want.shape))
        check(got.dtype == want.dtype, '%s dtype %s vs %s' % (key, got.dtype, want.dtype))
        check(np.array_equal(got[()], want), '%s values %s vs %s' % (key, got[()], want))
print('ok')
)", file);
  }
}
