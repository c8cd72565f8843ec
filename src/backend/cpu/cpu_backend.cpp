// The CPU backend: host memory, the kernels of kernels/cpu on the caller's thread pool, and the
// interleaved weight layout those kernels read fastest.
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/interleave.h"
#include "backend/cpu/moe.h"
#include "core/error.h"
#include "kernels/cpu/kv_rows.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"

namespace bottega::backend {
namespace {

class CpuBuffer final : public Buffer {
 public:
  explicit CpuBuffer(int64_t n) : size_(n), values_(new float[static_cast<size_t>(n)]) {}
  int64_t size() const override { return size_; }
  float* data() const { return values_.get(); }

 private:
  int64_t size_;
  std::unique_ptr<float[]> values_;
};

class CpuMatrix final : public Matrix {
 public:
  CpuMatrix(const WeightMatrix& w, int64_t n_expert) : w_(w), n_expert_(n_expert) {}
  TensorType type() const override { return w_.type; }
  int64_t n_in() const override { return w_.n_in; }
  int64_t n_out() const override { return w_.n_out / n_expert_; }
  int64_t n_expert() const override { return n_expert_; }
  // The matrix as the kernels read it; experts stacked, n_expert * n_out() rows.
  const WeightMatrix& weights() const { return w_; }

 private:
  WeightMatrix w_;
  int64_t n_expert_;
};

const WeightMatrix& host(const Matrix& m) {
  const auto* cpu = dynamic_cast<const CpuMatrix*>(&m);
  BOTTEGA_CHECK(cpu != nullptr, "a matrix of another backend given to the CPU");
  return cpu->weights();
}

float* host(const Tensor& t) {
  if (t.empty()) return nullptr;
  const auto* cpu = dynamic_cast<const CpuBuffer*>(t.buffer);
  BOTTEGA_CHECK(cpu != nullptr, "a buffer of another backend given to the CPU");
  return cpu->data() + t.offset;
}

// Runs row(i, x_row, ...) for every row of a batch-wide op, split across threads.
template <typename Fn>
void for_rows(ThreadPool& pool, int64_t rows, const Fn& fn) {
  pool.parallel_for(rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) fn(r);
  });
}

class CpuPass final : public Pass {
 public:
  CpuPass(std::span<const BatchToken> batch, std::span<const std::span<const int32_t>> tables,
          KvCache& cache, ThreadPool& pool, cpu::Scratch& scratch)
      : batch_(batch), tables_(tables), cache_(cache), pool_(pool), scratch_(scratch) {}

  void get_rows(const Matrix& table, Tensor out, float scale) override {
    const WeightMatrix& w = host(table);
    check_batch_rows(out);
    float* base = host(out);
    for (size_t t = 0; t < batch_.size(); ++t) {
      const int32_t token = batch_[t].token;
      BOTTEGA_CHECK(token >= 0 && token < w.n_out, "token id ", token);
      float* row = base + static_cast<int64_t>(t) * out.stride;
      kernels::dequantize_row(w, token, row);
      if (scale != 1.0f) {
        for (int64_t i = 0; i < out.width; ++i) row[i] *= scale;
      }
    }
  }

  void rms_norm(Tensor x, Tensor weight, Tensor out, float eps) override {
    BOTTEGA_CHECK(x.rows == out.rows && x.width == out.width && weight.width == x.width,
                  "rms_norm shapes");
    const float* in = host(x);
    const float* w = host(weight);
    float* dst = host(out);
    for_rows(pool_, x.rows, [&](int64_t r) {
      kernels::rms_norm(in + r * x.stride, w, dst + r * out.stride, x.width, eps);
    });
  }

  void matmul(const Matrix& w, Tensor x, Tensor y) override {
    const WeightMatrix& weights = host(w);
    BOTTEGA_CHECK(w.n_expert() == 1 && x.contiguous() && y.contiguous() && x.rows == y.rows &&
                      x.width == w.n_in() && y.width == w.n_out(),
                  "matmul shapes");
    kernels::matmul(weights, host(x), x.rows, host(y), pool_);
  }

  void matmul_shared_input(Tensor x, std::span<const MatmulProduct> products) override {
    std::vector<kernels::SharedInputProduct> shared;
    shared.reserve(products.size());
    for (const MatmulProduct& p : products) {
      BOTTEGA_CHECK(p.w->n_expert() == 1 && x.contiguous() && p.y.contiguous() &&
                        x.rows == p.y.rows && x.width == p.w->n_in() && p.y.width == p.w->n_out(),
                    "matmul shapes");
      shared.push_back({&host(*p.w), host(p.y)});
    }
    kernels::matmul_shared_input(shared, host(x), x.rows, pool_);
  }

  void add(Tensor y, Tensor x) override {
    BOTTEGA_CHECK(x.width == y.width && (x.rows == y.rows || x.rows == 1), "add shapes");
    float* dst = host(y);
    const float* src = host(x);
    const int64_t x_stride = x.rows == 1 ? 0 : x.stride;
    if (x_stride != 0 && x.contiguous() && y.contiguous()) {
      kernels::add(dst, src, y.size());
      return;
    }
    for (int64_t r = 0; r < y.rows; ++r)
      kernels::add(dst + r * y.stride, src + r * x_stride, y.width);
  }

  void glu(const GluParams& params, Tensor gate, Tensor up, Tensor out) override {
    BOTTEGA_CHECK(gate.rows == up.rows && gate.rows == out.rows && gate.width == up.width &&
                      gate.width == out.width,
                  "glu shapes");
    const float* g = host(gate);
    const float* u = host(up);
    float* dst = host(out);
    for_rows(pool_, gate.rows, [&](int64_t r) {
      cpu::glu_row(params, g + r * gate.stride, u + r * up.stride, dst + r * out.stride,
                   gate.width);
    });
  }

  void rope(Tensor x, int n_head, const RopeParams& params) override {
    check_batch_rows(x);
    BOTTEGA_CHECK(x.width % n_head == 0, "rope of ", n_head, " heads over ", x.width);
    float* base = host(x);
    const auto head_dim = static_cast<int>(x.width / n_head);
    for_rows(pool_, x.rows, [&](int64_t t) {
      kernels::rope(base + t * x.stride, n_head, head_dim, batch_[static_cast<size_t>(t)].pos,
                    params);
    });
  }

  void store_kv(int layer, Tensor k, Tensor v) override {
    check_batch_rows(k);
    check_batch_rows(v);
    const int64_t kv_dim = cache_.n_kv_dim();
    BOTTEGA_CHECK(k.width == kv_dim && v.width == kv_dim, "store_kv width");
    const float* keys = host(k);
    const float* values = host(v);
    cache_.host_layer(layer);  // made here, before the threads write into it
    const int64_t slice_values = cache_.host_slice_values();
    // Each token writes its own cache rows, so tokens split across threads freely.
    for_rows(pool_, k.rows, [&](int64_t t) {
      const BatchToken& token = batch_[static_cast<size_t>(t)];
      const auto table = tables_[static_cast<size_t>(token.seq)];
      for (int slice = 0; slice < cache_.n_host_slices(); ++slice) {
        const int64_t first = slice * slice_values;
        kernels::encode_row(cache_.key_type(), keys + t * k.stride + first,
                            cache_.key(layer, table, token.pos, slice), slice_values);
        kernels::encode_row(cache_.value_type(), values + t * v.stride + first,
                            cache_.value(layer, table, token.pos, slice), slice_values);
      }
    });
  }

  void attention(int layer, const AttentionParams& params, Tensor q, Tensor out) override {
    check_batch_rows(q);
    BOTTEGA_CHECK(q.contiguous() && out.contiguous() && q.rows == out.rows &&
                      q.width == params.n_head * params.head_dim && out.width == q.width,
                  "attention shapes");
    const cpu::AttentionShape shape{params.n_head,     params.n_head_kv, params.head_dim,
                                    params.scale,      params.window,    params.softcap,
                                    host(params.sinks)};
    cpu::paged_attention(batch_, tables_, cache_, layer, shape, host(q), host(out), pool_,
                         scratch_);
  }

  void softcap(Tensor x, float cap) override {
    float* base = host(x);
    for (int64_t r = 0; r < x.rows; ++r) kernels::softcap(base + r * x.stride, x.width, cap);
  }

  void copy(Tensor src, Tensor dst) override {
    BOTTEGA_CHECK(src.rows == dst.rows && src.width == dst.width, "copy shapes");
    const float* from = host(src);
    float* to = host(dst);
    for_rows(pool_, src.rows, [&](int64_t r) {
      std::copy_n(from + r * src.stride, src.width, to + r * dst.stride);
    });
  }

  void logit_rows(Tensor src, Tensor dst) override {
    check_batch_rows(src);
    BOTTEGA_CHECK(src.width == dst.width, "logit_rows width");
    const float* from = host(src);
    float* to = host(dst);
    int64_t out_row = 0;
    for (size_t t = 0; t < batch_.size(); ++t) {
      if (!batch_[t].logits) continue;
      BOTTEGA_CHECK(out_row < dst.rows, "logit_rows: ", dst.rows, " rows for more tokens");
      std::copy_n(from + static_cast<int64_t>(t) * src.stride, src.width,
                  to + out_row * dst.stride);
      ++out_row;
    }
  }

  void mixture_of_experts(const MoeWeights& weights, const MoeConfig& moe,
                          const GluParams& activation, Tensor x, Tensor out) override {
    BOTTEGA_CHECK(x.contiguous() && out.contiguous() && x.rows == out.rows && x.width == out.width,
                  "mixture_of_experts shapes");
    cpu::MoeHostWeights w;
    w.router = host(*weights.router);
    w.gate_experts = host(*weights.gate_experts);
    w.up_experts = host(*weights.up_experts);
    w.down_experts = host(*weights.down_experts);
    if (weights.gate_shared != nullptr) {
      w.gate_shared = host(*weights.gate_shared);
      w.up_shared = host(*weights.up_shared);
      w.down_shared = host(*weights.down_shared);
    }
    w.router_bias = host(weights.router_bias);
    w.gate_bias = host(weights.gate_bias);
    w.up_bias = host(weights.up_bias);
    w.down_bias = host(weights.down_bias);
    w.shared_gate = host(weights.shared_gate);
    cpu::mixture_of_experts(w, moe, activation, host(x), x.rows, x.width, host(out), pool_,
                            scratch_);
  }

  void read(Tensor src, std::span<float> dst) override {
    BOTTEGA_CHECK(src.contiguous() && static_cast<int64_t>(dst.size()) == src.size(), "read of ",
                  src.size(), " values into ", dst.size());
    std::copy_n(host(src), src.size(), dst.data());
  }

 private:
  void check_batch_rows(const Tensor& t) const {
    BOTTEGA_CHECK(t.rows == static_cast<int64_t>(batch_.size()), "a tensor of ", t.rows,
                  " rows for a batch of ", batch_.size());
  }

  std::span<const BatchToken> batch_;
  std::span<const std::span<const int32_t>> tables_;
  KvCache& cache_;
  ThreadPool& pool_;
  cpu::Scratch& scratch_;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuOptions& options) : options_(options) {}
  std::string name() const override { return "cpu"; }
  bool supports(TensorType type) const override { return is_computable(type); }

  std::vector<std::unique_ptr<Matrix>> load_matrices(
      const gguf::File* file, std::span<const StoredMatrix> matrices) override;

  std::unique_ptr<Buffer> allocate(int64_t n) override { return std::make_unique<CpuBuffer>(n); }

  std::unique_ptr<Buffer> upload(std::span<const float> values) override {
    auto buffer = std::make_unique<CpuBuffer>(static_cast<int64_t>(values.size()));
    std::copy(values.begin(), values.end(), buffer->data());
    return buffer;
  }

  std::unique_ptr<Pass> begin(std::span<const BatchToken> batch,
                              std::span<const std::span<const int32_t>> tables, KvCache& cache,
                              ThreadPool& threads) override {
    return std::make_unique<CpuPass>(batch, tables, cache, threads, scratch_for(threads));
  }

 private:
  CpuOptions options_;
  // The ops' buffers kept from pass to pass, one set per thread pool (cpu/scratch.h).
  cpu::Scratch& scratch_for(const ThreadPool& pool) {
    const std::lock_guard lock(scratch_mutex_);
    std::unique_ptr<cpu::Scratch>& entry = scratch_by_pool_[&pool];
    if (entry == nullptr) entry = std::make_unique<cpu::Scratch>();
    return *entry;
  }

  std::mutex scratch_mutex_;
  std::map<const ThreadPool*, std::unique_ptr<cpu::Scratch>> scratch_by_pool_;
  // The projections' own copies (cpu/interleave.h), one region per load_matrices call.
  std::vector<HostMemory> copies_;
};

// Projections are moved into memory of the backend's own, interleaved where the kernels run faster
// so (the mapping's pages released; cpu/interleave.h); an embedding tied to such a head reads the
// same copy. Expert tensors and embeddings stay in the mapping: a token reads few of their rows,
// and a copy would make every one resident.
std::vector<std::unique_ptr<Matrix>> CpuBackend::load_matrices(
    const gguf::File* file, std::span<const StoredMatrix> matrices) {
  std::vector<WeightMatrix> views;
  for (const StoredMatrix& m : matrices) views.push_back(m.view);
  std::vector<WeightMatrix*> projections;
  for (size_t i = 0; i < views.size(); ++i) {
    if (matrices[i].role == Role::kProjection && views[i].data != nullptr) {
      projections.push_back(&views[i]);
    }
  }
  copies_.push_back(cpu::copy_for_cpu(file, projections, options_.f16_as_bf16));
  for (size_t i = 0; i < views.size(); ++i) {
    if (matrices[i].role != Role::kEmbedding) continue;
    for (size_t j = 0; j < views.size(); ++j) {
      if (matrices[j].role == Role::kProjection && matrices[j].view.data == views[i].data) {
        views[i] = views[j];
      }
    }
  }
  std::vector<std::unique_ptr<Matrix>> out;
  for (size_t i = 0; i < views.size(); ++i) {
    out.push_back(std::make_unique<CpuMatrix>(views[i], matrices[i].n_expert));
  }
  return out;
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const CpuOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

}  // namespace bottega::backend
