#include "core/host_memory.h"

#include <new>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace bottega {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kLineAlignment = 64;

}  // namespace

HostMemory::HostMemory(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
#if defined(__linux__)
  if (bytes >= kHugePage) {
    // Map one huge page more than needed and trim both ends, so the region starts on a 2 MiB
    // boundary; the kernel can only back aligned 2 MiB ranges with huge pages.
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    const size_t span = rounded + kHugePage;
    void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > start) munmap(raw, aligned - start);
    const uintptr_t end = start + span;
    if (end > aligned + rounded)
      munmap(reinterpret_cast<void*>(aligned + rounded), end - aligned - rounded);
    data_ = reinterpret_cast<uint8_t*>(aligned);
    mapped_ = rounded;
    // Advice only: where huge pages are off or none are free, the region keeps 4 KiB pages.
    madvise(data_, mapped_, MADV_HUGEPAGE);
    return;
  }
#endif
  data_ = static_cast<uint8_t*>(::operator new (bytes, std::align_val_t{kLineAlignment}));
}

HostMemory::~HostMemory() {
  free();
}

HostMemory::HostMemory(HostMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)) {}

HostMemory& HostMemory::operator=(HostMemory&& other) noexcept {
  if (this != &other) {
    free();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
  }
  return *this;
}

void HostMemory::free() noexcept {
  if (data_ == nullptr) return;
#if defined(__linux__)
  if (mapped_ != 0) {
    munmap(data_, mapped_);
    data_ = nullptr;
    return;
  }
#endif
  ::operator delete (data_, std::align_val_t{kLineAlignment});
  data_ = nullptr;
}

}  // namespace bottega
