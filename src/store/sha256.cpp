#include "store/sha256.h"

#include <openssl/evp.h>

#include "core/error.h"

namespace bottega::store {

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  BOTTEGA_CHECK(impl_->ctx != nullptr, "EVP_MD_CTX_new failed");
  reset();
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(impl_->ctx);
}

void Sha256::reset() {
  BOTTEGA_CHECK(EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) == 1, "SHA-256 init failed");
}

void Sha256::update(const void* data, size_t size) {
  BOTTEGA_CHECK(EVP_DigestUpdate(impl_->ctx, data, size) == 1, "SHA-256 update failed");
}

std::string Sha256::finish_hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  BOTTEGA_CHECK(EVP_DigestFinal_ex(impl_->ctx, digest, &length) == 1, "SHA-256 final failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  reset();
  return hex;
}

std::string sha256_hex(std::string_view data) {
  Sha256 hash;
  hash.update(data);
  return hash.finish_hex();
}

}  // namespace bottega::store
