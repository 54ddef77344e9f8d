#pragma once
// HDF5 "dict of arrays" (SPEC §8): the layout h5py gives a Python dict of numpy
// arrays — one dataset per key, nested dicts as groups, so the key
// "ic_enc/fwd_rnn/wRUHX" is the dataset /ic_enc/fwd_rnn/wRUHX. Shapes are
// row-major exactly as numpy/h5py see them (HDF5 stores row-major natively).
//
// Every failure — missing file, missing key, wrong shape, wrong dtype, NaN/Inf,
// any HDF5 error — becomes a ctd::Error naming the file and the key, so a bad
// input file is a readable message, never a crash.
//
// Needs the HDF5 C++ API: -I/usr/include/hdf5/serial
// -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5_cpp -lhdf5
#include <H5Cpp.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "ctd/core/error.hpp"

namespace ctd::io {

enum class DType { f32, f64, i64 };

// Sentinel in an expected shape: this dimension may have any extent.
inline constexpr std::size_t any_dim = static_cast<std::size_t>(-1);

// One numpy array: row-major values plus the shape. The variant's alternative
// order matches DType, so dtype() is the variant index.
struct Array {
  std::vector<std::size_t> shape;
  std::variant<std::vector<float>, std::vector<double>, std::vector<std::int64_t>> data;

  DType dtype() const { return static_cast<DType>(data.index()); }
  std::size_t size() const {
    return std::visit([](const auto& v) { return v.size(); }, data);
  }
};

namespace detail {

template <class T>
inline constexpr bool is_element_v =
    std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int64_t>;

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
  }
  return "?";
}

inline std::size_t product(const std::vector<std::size_t>& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

// numpy's spelling: "()", "(5,)", "(100, 99)"; any_dim prints as "?".
inline std::string shape_str(const std::vector<std::size_t>& shape) {
  std::ostringstream s;
  s << '(';
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s << ", ";
    if (shape[i] == any_dim) s << '?'; else s << shape[i];
  }
  if (shape.size() == 1) s << ',';
  s << ')';
  return s.str();
}

// Keys become HDF5 paths; empty components would silently collapse ("a//b")
// or address the root ("/a"), so they are refused up front.
inline void check_key(const std::string& key) {
  bool ok = !key.empty() && key.front() != '/' && key.back() != '/' &&
            key.find("//") == std::string::npos;
  require(ok, "invalid key '" + key + "': must be non-empty names separated by single '/'");
}

inline std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t slash; (slash = key.find('/', start)) != std::string::npos; start = slash + 1)
    parts.push_back(key.substr(start, slash - start));
  parts.push_back(key.substr(start));
  return parts;
}

inline std::string h5_message(const H5::Exception& e) {
  return "HDF5 error in " + e.getFuncName() + ": " + e.getDetailMsg();
}

}  // namespace detail

// Ordered map key -> Array that remembers which file it came from, so every
// error can name it. Keys iterate sorted, as h5py lists them.
class Dict {
 public:
  Dict() = default;
  explicit Dict(std::string source) : source_(std::move(source)) {}

  const std::string& source() const { return source_; }

  void set(std::string key, Array a) {
    detail::check_key(key);
    require(a.size() == detail::product(a.shape),
            where(key) + ": shape " + detail::shape_str(a.shape) + " needs " +
                std::to_string(detail::product(a.shape)) + " values, got " + std::to_string(a.size()));
    entries_.insert_or_assign(std::move(key), std::move(a));
  }

  template <class T>
  void set(std::string key, std::vector<std::size_t> shape, std::vector<T> values) {
    static_assert(detail::is_element_v<T>, "Dict::set: T must be float, double or std::int64_t");
    set(std::move(key), Array{std::move(shape), std::move(values)});
  }

  bool contains(const std::string& key) const { return entries_.count(key) > 0; }

  const Array& at(const std::string& key) const {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      std::string present;
      for (const auto& [k, a] : entries_) present += (present.empty() ? "'" : ", '") + k + "'";
      throw Error(where(key) + ": missing; keys present: " + (present.empty() ? "(none)" : present));
    }
    return it->second;
  }

  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto& [k, a] : entries_) out.push_back(k);
    return out;
  }

  // Validated read: the dataset converted to T, its shape checked against
  // expected_shape (any_dim matches any extent), and for floating T every
  // value checked finite after conversion (so float64 overflowing float32 is
  // caught too). Integers may be read as floating point (e.g. spike counts as
  // rates), but never the reverse: truncating floats would hide a wrong file.
  template <class T>
  std::vector<T> get(const std::string& key, const std::vector<std::size_t>& expected_shape) const {
    const Array& a = at(key);
    bool shape_ok = a.shape.size() == expected_shape.size();
    for (std::size_t i = 0; shape_ok && i < a.shape.size(); ++i)
      shape_ok = expected_shape[i] == any_dim || expected_shape[i] == a.shape[i];
    require(shape_ok, where(key) + ": expected shape " + detail::shape_str(expected_shape) + ", found " +
                          detail::shape_str(a.shape));
    return convert<T>(key, a);
  }

  template <class T>
  std::vector<T> get(const std::string& key) const {
    return convert<T>(key, at(key));
  }

 private:
  std::string where(const std::string& key) const {
    return (source_.empty() ? std::string("(in-memory dict)") : source_) + ": key '" + key + "'";
  }

  template <class T>
  std::vector<T> convert(const std::string& key, const Array& a) const {
    static_assert(detail::is_element_v<T>, "Dict::get: T must be float, double or std::int64_t");
    if constexpr (std::is_integral_v<T>)
      require(a.dtype() == DType::i64,
              where(key) + ": expected integer dataset, found " + detail::dtype_name(a.dtype()));
    std::vector<T> out = std::visit(
        [](const auto& v) { return std::vector<T>(v.begin(), v.end()); }, a.data);
    if constexpr (std::is_floating_point_v<T>) {
      for (std::size_t i = 0; i < out.size(); ++i) {
        if (std::isfinite(out[i])) continue;
        const char* what = std::isnan(out[i]) ? "NaN" : (out[i] > 0 ? "Inf" : "-Inf");
        throw Error(where(key) + " holds " + what + " at flat index " + std::to_string(i));
      }
    }
    return out;
  }

  std::string source_;
  std::map<std::string, Array> entries_;
};

namespace detail {

// Reads one dataset, accepting float32/float64 and signed integers up to 64
// bits (h5py's int32 included), which HDF5 widens to int64 while reading.
inline Array read_dataset(const H5::DataSet& ds, const std::string& file, const std::string& key) {
  const auto fail = [&](const std::string& why) {
    return Error(file + ": key '" + key + "': " + why);
  };
  H5::DataSpace space = ds.getSpace();
  if (space.getSimpleExtentType() == H5S_NULL) throw fail("empty (null) dataspace, expected an array");
  std::vector<hsize_t> dims(static_cast<std::size_t>(space.getSimpleExtentNdims()));
  if (!dims.empty()) space.getSimpleExtentDims(dims.data());
  Array a;
  a.shape.assign(dims.begin(), dims.end());
  const std::size_t n = product(a.shape);

  const auto read_as = [&](auto zero, const H5::PredType& mem_type) {
    std::vector<decltype(zero)> v(n);
    if (n > 0) ds.read(v.data(), mem_type);  // HDF5 rejects a null buffer even for 0 values
    a.data = std::move(v);
  };
  H5::DataType type = ds.getDataType();
  const std::size_t bytes = type.getSize();
  switch (type.getClass()) {
    case H5T_FLOAT:
      if (bytes == 4) read_as(float{}, H5::PredType::NATIVE_FLOAT);
      else if (bytes == 8) read_as(double{}, H5::PredType::NATIVE_DOUBLE);
      else throw fail("expected float32, float64 or int64 dataset, found " + std::to_string(8 * bytes) + "-bit float");
      break;
    case H5T_INTEGER:
      if (ds.getIntType().getSign() != H5T_SGN_2 && bytes >= 8)
        throw fail("expected float32, float64 or int64 dataset, found uint64 (may not fit int64)");
      read_as(std::int64_t{}, H5::PredType::NATIVE_INT64);
      break;
    case H5T_STRING: throw fail("expected float32, float64 or int64 dataset, found string");
    case H5T_ENUM: throw fail("expected float32, float64 or int64 dataset, found enum (numpy bool?)");
    default:
      throw fail("expected float32, float64 or int64 dataset, found HDF5 type class " +
                 std::to_string(static_cast<int>(type.getClass())));
  }
  return a;
}

// Walks a group depth-first, adding each dataset under its '/'-joined path.
inline void read_group(const H5::Group& group, const std::string& prefix, const std::string& file, Dict& out) {
  for (hsize_t i = 0; i < group.getNumObjs(); ++i) {
    const std::string name = group.getObjnameByIdx(i);
    const std::string key = prefix + name;
    try {
      switch (group.childObjType(name)) {
        case H5O_TYPE_GROUP: read_group(group.openGroup(name), key + "/", file, out); break;
        case H5O_TYPE_DATASET: out.set(key, read_dataset(group.openDataSet(name), file, key)); break;
        default: throw Error(file + ": key '" + key + "': neither a dataset nor a group");
      }
    } catch (const H5::Exception& e) {
      throw Error(file + ": key '" + key + "': " + h5_message(e));
    }
  }
}

inline void write_dataset(H5::H5File& h5, const std::string& key, const Array& a) {
  // Create the groups a nested key needs (h5py's nested dicts).
  const std::vector<std::string> parts = split_key(key);
  std::string path;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    path += "/" + parts[i];
    if (!h5.nameExists(path)) h5.createGroup(path);
  }
  const std::vector<hsize_t> dims(a.shape.begin(), a.shape.end());
  // Rank 0 must be a scalar dataspace (what h5py writes for np.float32(1)).
  const H5::DataSpace space = dims.empty() ? H5::DataSpace() : H5::DataSpace(static_cast<int>(dims.size()), dims.data());
  // Little-endian IEEE / two's complement on disk: what numpy writes on x86.
  const auto write_as = [&](const auto& values, const H5::PredType& file_type, const H5::PredType& mem_type) {
    H5::DataSet ds = h5.createDataSet("/" + key, file_type, space);
    if (!values.empty()) ds.write(values.data(), mem_type);
  };
  switch (a.dtype()) {
    case DType::f32: write_as(std::get<0>(a.data), H5::PredType::IEEE_F32LE, H5::PredType::NATIVE_FLOAT); break;
    case DType::f64: write_as(std::get<1>(a.data), H5::PredType::IEEE_F64LE, H5::PredType::NATIVE_DOUBLE); break;
    case DType::i64: write_as(std::get<2>(a.data), H5::PredType::STD_I64LE, H5::PredType::NATIVE_INT64); break;
  }
}

}  // namespace detail

// Loads every dataset of an HDF5 file, recursing into groups.
inline Dict read_h5(const std::filesystem::path& file) {
  H5::Exception::dontPrint();  // errors are reported through ctd::Error, not stderr
  const std::string name = file.string();
  require(std::filesystem::is_regular_file(file), name + ": file not found");
  Dict out(name);
  try {
    require(H5::H5File::isHdf5(name), name + ": not an HDF5 file");
    H5::H5File h5(name, H5F_ACC_RDONLY);
    detail::read_group(h5.openGroup("/"), "", name, out);
  } catch (const H5::Exception& e) {
    throw Error(name + ": cannot read: " + detail::h5_message(e));
  }
  return out;
}

// Writes atomically: a reader (or a crash mid-write) never sees a half-written
// file, because the data goes to "<file>.tmp.<pid>" in the same directory (so
// rename stays on one filesystem) and is renamed over the target only once
// complete and closed.
inline void write_h5(const std::filesystem::path& file, const Dict& dict) {
  H5::Exception::dontPrint();
  const std::string name = file.string();
  const std::filesystem::path tmp = name + ".tmp." + std::to_string(::getpid());
  std::string key;  // the key being written, for the error message
  // Removes the partial temp file and reports; H5::Exception is not a
  // std::exception, hence two catch clauses sharing this.
  const auto fail = [&](const std::string& why) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return Error(name + ": cannot write: " + (key.empty() ? "" : "key '" + key + "': ") + why);
  };
  try {
    {
      H5::H5File h5(tmp.string(), H5F_ACC_TRUNC);
      for (const std::string& k : dict.keys()) {
        key = k;
        detail::write_dataset(h5, k, dict.at(k));
      }
    }  // closes the file before the rename
    key.clear();
    std::filesystem::rename(tmp, file);
  } catch (const H5::Exception& e) {
    throw fail(detail::h5_message(e));
  } catch (const std::exception& e) {
    throw fail(e.what());
  }
}

}  // namespace ctd::io
