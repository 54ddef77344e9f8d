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

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "ctd/core/error.hpp"
#include "ctd/io/atomic_file.hpp"
#include "ctd/io/h5_superblock.hpp"

namespace ctd::io {

enum class DType { f32, f64, i64 };
enum class NonFinite { refuse, allow_nan };

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

inline std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& k : names) s += (s.empty() ? "" : " ") + k;
  return s;
}

// The innermost entry of the HDF5 error stack at the last failure (e.g.
// "truncated file" or "bad object header version number"): the C++ API's
// exceptions carry only the outermost call ("H5Fopen failed"), and by the
// time one is caught the stack has been cleared.
inline std::string& last_h5_cause() {
  static thread_local std::string cause;
  return cause;
}
inline herr_t record_h5_cause(hid_t stack, void*) {
  last_h5_cause().clear();
  H5Ewalk2(stack, H5E_WALK_UPWARD,
           [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
             if (n == 0 && e->desc) *static_cast<std::string*>(out) = e->desc;
             return 0;
           },
           &last_h5_cause());
  return 0;
}

// While alive, HDF5 reports failures to record_h5_cause instead of printing
// them. Afterwards no handler is left (the C++ API's dontPrint): libhdf5
// prints at exit ("infinite loop closing library", after a damaged file
// could not be closed) only when a handler is set, and our messages are one
// line on stderr.
class H5ErrorCapture {
 public:
  H5ErrorCapture() {
    H5Eset_auto2(H5E_DEFAULT, record_h5_cause, nullptr);
    last_h5_cause().clear();
  }
  ~H5ErrorCapture() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
  H5ErrorCapture(const H5ErrorCapture&) = delete;
  H5ErrorCapture& operator=(const H5ErrorCapture&) = delete;
};

inline std::string h5_message(const H5::Exception& e) {
  const std::string& cause = last_h5_cause();
  return "HDF5 error in " + e.getFuncName() + ": " + e.getDetailMsg() + (cause.empty() ? "" : " (" + cause + ")");
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
      const auto inside = entries_.lower_bound(key + "/");
      if (inside != entries_.end() && inside->first.starts_with(key + "/"))
        throw Error(where(key) + ": is a group (holding '" + inside->first + "'), expected a dataset");
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
  // Where NaN marks a missing value (lfads-torch's held-out data of
  // evaluation trials), NonFinite::allow_nan lets it through; Inf never is.
  template <class T>
  std::vector<T> get(const std::string& key, const std::vector<std::size_t>& expected_shape,
                     NonFinite non_finite = NonFinite::refuse) const {
    const Array& a = at(key);
    bool shape_ok = a.shape.size() == expected_shape.size();
    for (std::size_t i = 0; shape_ok && i < a.shape.size(); ++i)
      shape_ok = expected_shape[i] == any_dim || expected_shape[i] == a.shape[i];
    require(shape_ok, where(key) + ": expected shape " + detail::shape_str(expected_shape) + ", found " +
                          detail::shape_str(a.shape));
    return convert<T>(key, a, non_finite);
  }

  template <class T>
  std::vector<T> get(const std::string& key) const {
    return convert<T>(key, at(key));
  }

  // Refuses a key outside `expected` (a file of another model or layout),
  // naming it; `what` says what every key must be ("a parameter of a GRU").
  void refuse_keys_outside(const std::vector<std::string>& expected, const std::string& what) const {
    for (const auto& [k, a] : entries_)
      require(std::find(expected.begin(), expected.end(), k) != expected.end(),
              where(k) + " is not " + what + " (expected exactly " + detail::join(expected) + ")");
  }

 private:
  std::string where(const std::string& key) const {
    return (source_.empty() ? std::string("(in-memory dict)") : source_) + ": key '" + key + "'";
  }

  template <class T>
  std::vector<T> convert(const std::string& key, const Array& a, NonFinite non_finite = NonFinite::refuse) const {
    static_assert(detail::is_element_v<T>, "Dict::get: T must be float, double or std::int64_t");
    if constexpr (std::is_integral_v<T>)
      require(a.dtype() == DType::i64,
              where(key) + ": expected integer dataset, found " + detail::dtype_name(a.dtype()));
    std::vector<T> out = std::visit(
        [](const auto& v) { return std::vector<T>(v.begin(), v.end()); }, a.data);
    if constexpr (std::is_floating_point_v<T>) {
      for (std::size_t i = 0; i < out.size(); ++i) {
        if (std::isfinite(out[i]) || (std::isnan(out[i]) && non_finite == NonFinite::allow_nan)) continue;
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

inline const char* type_class_name(H5T_class_t c) {
  switch (c) {
    case H5T_STRING: return "string";
    case H5T_ENUM: return "enum (numpy bool?)";
    case H5T_COMPOUND: return "compound (numpy complex or structured)";
    case H5T_OPAQUE: return "opaque (numpy void)";
    case H5T_BITFIELD: return "bitfield";
    case H5T_REFERENCE: return "object reference";
    case H5T_VLEN: return "variable-length sequence";
    case H5T_ARRAY: return "array type";
    case H5T_TIME: return "time";
    default: return "unknown type";
  }
}

// Refuses, before a byte is allocated, a dataset whose shape cannot be what
// the file holds: a few bytes of file can declare any dimensions. Refused
// are an element count that overflows, more bytes than this machine's
// memory (no input of ours comes near it; allocating it would abort), and,
// for data stored uncompressed, fewer bytes in the file than the shape
// needs (a dataset never written, or cut short). Compressed data is bounded
// by the memory check alone: its stored size says nothing about its shape.
inline std::size_t checked_count(const H5::DataSet& ds, const std::vector<std::size_t>& shape,
                                 std::size_t file_element, std::size_t memory_element,
                                 const std::function<Error(const std::string&)>& fail) {
  std::size_t n = 1;
  for (std::size_t d : shape) {
    if (d != 0 && n > std::numeric_limits<std::size_t>::max() / d / memory_element)
      throw fail("declares shape " + shape_str(shape) + ", whose size overflows");
    n *= d;
  }
  const auto memory = std::size_t(::sysconf(_SC_PHYS_PAGES)) * std::size_t(::sysconf(_SC_PAGESIZE));
  if (n * memory_element > memory)
    throw fail("declares shape " + shape_str(shape) + ", " + std::to_string(n * memory_element) +
               " bytes, more than this machine's memory (" + std::to_string(memory) + " bytes)");
  const H5::DSetCreatPropList plist = ds.getCreatePlist();
  for (int i = 0; i < plist.getNfilters(); ++i) {
    unsigned flags = 0, config = 0;
    std::size_t values = 0;
    char name[64] = "";
    const H5Z_filter_t filter =
        H5Pget_filter2(plist.getId(), unsigned(i), &flags, &values, nullptr, sizeof name, name, &config);
    if (filter < 0 || H5Zfilter_avail(filter) <= 0)
      throw fail("compressed with filter " + std::to_string(filter) + (name[0] ? std::string(" (") + name + ")" : "") +
                 ", which this HDF5 library does not have");
  }
  const hsize_t stored = ds.getStorageSize(), needed = hsize_t(n) * file_element;
  if (plist.getNfilters() == 0 && stored < needed)
    throw fail("declares shape " + shape_str(shape) + " (" + std::to_string(needed) + " bytes) but the file stores " +
               std::to_string(stored) + " bytes of it (never written, or cut short)");
  return n;
}

// Reads one dataset, accepting float32/float64 in either byte order and
// signed integers up to 64 bits (h5py's int32 included) or unsigned up to
// 32, which HDF5 widens to int64 while reading.
inline Array read_dataset(const H5::DataSet& ds, const std::string& file, const std::string& key) {
  const std::function<Error(const std::string&)> fail = [&](const std::string& why) {
    return Error(file + ": key '" + key + "': " + why);
  };
  H5::DataSpace space = ds.getSpace();
  if (space.getSimpleExtentType() == H5S_NULL) throw fail("empty (null) dataspace, expected an array");
  std::vector<hsize_t> dims(static_cast<std::size_t>(space.getSimpleExtentNdims()));
  if (!dims.empty()) space.getSimpleExtentDims(dims.data());
  Array a;
  a.shape.assign(dims.begin(), dims.end());

  const H5::DataType type = ds.getDataType();
  const std::size_t bytes = type.getSize();
  const std::string expected = "expected float32, float64 or int64 dataset, found ";
  const auto read_as = [&](auto zero, const H5::PredType& mem_type) {
    const std::size_t n = checked_count(ds, a.shape, bytes, sizeof zero, fail);
    std::vector<decltype(zero)> v(n);
    if (n > 0) ds.read(v.data(), mem_type);  // HDF5 rejects a null buffer even for 0 values
    a.data = std::move(v);
  };
  switch (type.getClass()) {
    case H5T_FLOAT:
      if (bytes == 4) read_as(float{}, H5::PredType::NATIVE_FLOAT);
      else if (bytes == 8) read_as(double{}, H5::PredType::NATIVE_DOUBLE);
      else throw fail(expected + std::to_string(8 * bytes) + "-bit float");
      break;
    case H5T_INTEGER:
      if (bytes > 8 || (ds.getIntType().getSign() != H5T_SGN_2 && bytes == 8))
        throw fail(expected + (ds.getIntType().getSign() != H5T_SGN_2 ? "unsigned " : "") + std::to_string(8 * bytes) +
                   "-bit integer (may not fit int64)");
      read_as(std::int64_t{}, H5::PredType::NATIVE_INT64);
      break;
    default: throw fail(expected + type_class_name(type.getClass()));
  }
  return a;
}

// Walks a group depth-first, adding each dataset under its '/'-joined path.
// A dict of arrays is a tree of plain names: soft and external links (which
// could dangle or reach into other files) and objects under two names (hard
// links, which can loop back to a parent) are refused, so the walk ends.
inline void read_group(const H5::Group& group, const std::string& prefix, const std::string& file, Dict& out) {
  for (hsize_t i = 0; i < group.getNumObjs(); ++i) {
    const std::string name = group.getObjnameByIdx(i);
    const std::string key = prefix + name;
    const auto fail = [&](const std::string& why) { return Error(file + ": key '" + key + "': " + why); };
    try {
      const H5L_info_t link = group.getLinkInfo(name);
      if (link.type != H5L_TYPE_HARD)
        throw fail(std::string(link.type == H5L_TYPE_SOFT ? "a soft" : "an external") +
                   " link, expected a dataset or a group");
      H5O_info_t info;
      group.getObjinfo(name, info);
      if (info.rc != 1)
        throw fail("linked under " + std::to_string(info.rc) + " names, expected one (a tree of arrays)");
      switch (info.type) {
        case H5O_TYPE_GROUP: read_group(group.openGroup(name), key + "/", file, out); break;
        case H5O_TYPE_DATASET: out.set(key, read_dataset(group.openDataSet(name), file, key)); break;
        default: throw fail("neither a dataset nor a group");
      }
    } catch (const H5::Exception& e) {
      throw fail(h5_message(e));
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

// Loads every dataset of an HDF5 file, recursing into groups. The file's
// signature and size are checked before libhdf5 opens it.
inline Dict read_h5(const std::filesystem::path& file) {
  const detail::H5ErrorCapture capture;
  const std::string name = file.string();
  check_hdf5_file(file);
  Dict out(name);
  try {
    H5::H5File h5(name, H5F_ACC_RDONLY);
    detail::read_group(h5.openGroup("/"), "", name, out);
  } catch (const H5::Exception& e) {
    throw Error(name + ": cannot read: " + detail::h5_message(e));
  }
  return out;
}

// Writes atomically (write_atomically): a reader, or a run killed
// mid-write, sees the old complete file or the new one.
inline void write_h5(const std::filesystem::path& file, const Dict& dict) {
  const detail::H5ErrorCapture capture;
  std::string key;  // the key being written, for the error message
  const auto fail = [&](const std::string& why) {
    return Error(file.string() + ": cannot write: " + (key.empty() ? "" : "key '" + key + "': ") + why);
  };
  // H5::Exception is not a std::exception, hence the separate clauses.
  try {
    write_atomically(file, [&](const std::filesystem::path& tmp) {
      H5::H5File h5(tmp.string(), H5F_ACC_TRUNC);
      for (const std::string& k : dict.keys()) {
        key = k;
        detail::write_dataset(h5, k, dict.at(k));
      }
      key.clear();
      h5.close();  // throws where the destructor would swallow a failed flush
    });
  } catch (const H5::Exception& e) {
    throw fail(detail::h5_message(e));
  } catch (const Error&) {
    throw;  // names the file already
  } catch (const std::exception& e) {
    throw fail(e.what());
  }
}

}  // namespace ctd::io
