// Memory the CPU backend streams weights from. Decode reads every weight once per token, so the
// cost of a TLB miss every 4 KiB shows: with transparent huge pages in "madvise" mode (Debian's
// default) only memory that asks for them gets 2 MiB pages.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bottega {

class HostMemory {
 public:
  HostMemory() = default;
  // At least `bytes` bytes, uninitialised, aligned to 64 bytes; regions of 2 MiB or more are
  // aligned to 2 MiB and asked to be backed by huge pages. Throws std::bad_alloc when refused.
  explicit HostMemory(size_t bytes);
  ~HostMemory();
  HostMemory(HostMemory&& other) noexcept;
  HostMemory& operator=(HostMemory&& other) noexcept;
  HostMemory(const HostMemory&) = delete;
  HostMemory& operator=(const HostMemory&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void free() noexcept;

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // bytes of the mapping behind data_ (0: allocated with operator new)
};

}  // namespace bottega
