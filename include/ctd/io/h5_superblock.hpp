#pragma once
// What can be checked of an HDF5 file before libhdf5 sees it: the
// signature, and the file's size against the end-of-file address its
// superblock records (HDF5 File Format Specification, section II.A). A
// file that is empty, not HDF5, or cut short (a copy or download that
// stopped) is refused with a message that says which, instead of whatever
// the library makes of it.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ctd/core/error.hpp"

namespace ctd::io {

namespace detail {

// Little-endian unsigned of `bytes` bytes (the superblock's byte order).
inline std::uint64_t little_endian(const unsigned char* p, std::size_t bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = bytes; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

}  // namespace detail

inline void check_hdf5_file(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  require(std::filesystem::exists(status), name + ": file not found");
  require(std::filesystem::is_regular_file(status), name + ": not a regular file, expected an HDF5 file");
  const std::uintmax_t size = std::filesystem::file_size(file, ec);
  require(!ec, name + ": cannot read: " + ec.message());
  require(size > 0, name + ": empty file (0 bytes), expected an HDF5 file");
  std::ifstream in(file, std::ios::binary);
  require(bool(in), name + ": cannot open for reading");

  // The signature sits at byte 0, or after a user block at 512, 1024, ...
  static constexpr unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  static constexpr std::size_t superblock_bytes = 96;  // more than any version's fields read below
  std::vector<unsigned char> head(superblock_bytes);
  std::uintmax_t at = 0;
  for (;; at = at == 0 ? 512 : 2 * at) {
    require(at + sizeof signature <= size, name + ": not an HDF5 file (no HDF5 signature)");
    in.seekg(std::streamoff(at));
    in.read(reinterpret_cast<char*>(head.data()), std::streamsize(head.size()));
    const auto got = std::size_t(in.gcount());
    in.clear();
    if (got >= sizeof signature && std::memcmp(head.data(), signature, sizeof signature) == 0) {
      head.resize(got);
      break;
    }
  }

  // Where the superblock keeps the size of addresses and the end-of-file
  // address: versions 0 and 1 (h5py's default) after 24 or 28 bytes of
  // fields, base address and free-space address; versions 2 and 3 after 12
  // bytes, base address and superblock-extension address.
  require(head.size() >= 16, name + ": truncated HDF5 file: the superblock is cut short");
  const unsigned version = head[8];
  std::size_t offset_size = 0, base_at = 0;
  if (version <= 1) offset_size = head[13], base_at = version == 0 ? 24 : 28;
  if (version == 2 || version == 3) offset_size = head[9], base_at = 12;
  require(offset_size == 2 || offset_size == 4 || offset_size == 8,
          name + ": damaged HDF5 superblock (version " + std::to_string(version) + ", address size " +
              std::to_string(offset_size) + ")");
  const std::size_t eof_at = base_at + 2 * offset_size;
  require(eof_at + offset_size <= head.size(), name + ": truncated HDF5 file: the superblock is cut short");
  const std::uint64_t base = detail::little_endian(&head[base_at], offset_size);
  const std::uint64_t eof = detail::little_endian(&head[eof_at], offset_size);
  const std::uint64_t all_ones = offset_size == 8 ? ~std::uint64_t(0) : (std::uint64_t(1) << (8 * offset_size)) - 1;
  require(eof == all_ones /* not recorded */ || (eof <= size && base <= size - eof),
          name + ": truncated HDF5 file: its superblock says it ends at byte " + std::to_string(base + eof) +
              ", the file has " + std::to_string(size) + " bytes");
}

}  // namespace ctd::io
