#include "engine/perplexity.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "engine/session.h"

namespace bottega {
namespace {

// KL base files: "BTKL", u32 version, u32 n_ctx, u32 n_vocab, u32 n_chunks, the n_chunks * n_ctx
// token ids (int32), then for each chunk and scored position n_vocab float32 log-probabilities.
constexpr char kKlMagic[4] = {'B', 'T', 'K', 'L'};
constexpr uint32_t kKlVersion = 1;

struct KlHeader {
  uint32_t n_ctx, n_vocab, n_chunks;
};

// Natural-log softmax of one row of logits, in double for the sums.
void log_softmax(std::span<const float> logits, std::vector<float>& out) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float v : logits) sum += std::exp(static_cast<double>(v - max_logit));
  const double log_sum = std::log(sum) + max_logit;
  out.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(logits[i] - log_sum);
}

class KlBaseWriter {
 public:
  KlBaseWriter(const std::string& path, const KlHeader& header, std::span<const int32_t> tokens)
      : path_(path), temp_(path + ".tmp"), out_(temp_, std::ios::binary) {
    if (!out_) throw Error(str("cannot write '", temp_, "': ", std::strerror(errno)));
    out_.write(kKlMagic, 4);
    write_u32(kKlVersion);
    write_u32(header.n_ctx);
    write_u32(header.n_vocab);
    write_u32(header.n_chunks);
    out_.write(reinterpret_cast<const char*>(tokens.data()),
               static_cast<std::streamsize>(tokens.size_bytes()));
  }
  ~KlBaseWriter() {
    if (!committed_) std::filesystem::remove(temp_);
  }
  void write_row(const std::vector<float>& logprobs) {
    out_.write(reinterpret_cast<const char*>(logprobs.data()),
               static_cast<std::streamsize>(logprobs.size() * sizeof(float)));
  }
  void commit() {
    out_.close();
    if (!out_) throw Error(str("failed writing '", temp_, "' (disk full?)"));
    std::filesystem::rename(temp_, path_);
    committed_ = true;
  }

 private:
  void write_u32(uint32_t v) { out_.write(reinterpret_cast<const char*>(&v), 4); }
  std::string path_, temp_;
  std::ofstream out_;
  bool committed_ = false;
};

class KlBaseReader {
 public:
  KlBaseReader(const std::string& path, const KlHeader& expected, std::span<const int32_t> tokens)
      : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw Error(str("cannot read KL base file '", path, "': ", std::strerror(errno)));
    char magic[4] = {};
    in_.read(magic, 4);
    uint32_t version = 0;
    KlHeader header{};
    in_.read(reinterpret_cast<char*>(&version), 4);
    in_.read(reinterpret_cast<char*>(&header), sizeof header);
    if (!in_ || std::memcmp(magic, kKlMagic, 4) != 0 || version != kKlVersion) {
      throw Error(
          str("'", path, "' is not a bottega KL base file (write one with --kl-divergence-base)"));
    }
    if (header.n_ctx != expected.n_ctx || header.n_vocab != expected.n_vocab ||
        header.n_chunks < expected.n_chunks) {
      throw Error(str("KL base '", path, "' was made with context ", header.n_ctx, ", vocabulary ",
                      header.n_vocab, " and ", header.n_chunks, " chunks; this run has ",
                      expected.n_ctx, ", ", expected.n_vocab, " and ", expected.n_chunks,
                      ": use the same text, -c and model family"));
    }
    std::vector<int32_t> base_tokens(static_cast<size_t>(header.n_chunks) * header.n_ctx);
    in_.read(reinterpret_cast<char*>(base_tokens.data()),
             static_cast<std::streamsize>(base_tokens.size() * 4));
    if (!in_ || !std::equal(tokens.begin(), tokens.end(), base_tokens.begin())) {
      throw Error(str("KL base '", path, "' was computed on a different text or tokenizer"));
    }
  }
  void read_row(std::vector<float>& row) {
    in_.read(reinterpret_cast<char*>(row.data()),
             static_cast<std::streamsize>(row.size() * sizeof(float)));
    if (!in_) throw Error(str("KL base '", path_, "' is truncated"));
  }

 private:
  std::string path_;
  std::ifstream in_;
};

// Running sums for a mean and its standard error.
struct Moments {
  double sum = 0.0, sum_squares = 0.0;
  int64_t count = 0;
  void add(double v) {
    sum += v;
    sum_squares += v * v;
    ++count;
  }
  double mean() const { return count ? sum / static_cast<double>(count) : 0.0; }
  double standard_error() const {
    if (count < 2) return 0.0;
    const double variance = sum_squares / static_cast<double>(count) - mean() * mean();
    return std::sqrt(std::max(0.0, variance) / static_cast<double>(count - 1));
  }
};

}  // namespace

PerplexityResult compute_perplexity(Model& model, const tokenizer::Tokenizer& tokenizer,
                                    const std::string& text, const PerplexityOptions& options,
                                    ThreadPool& pool,
                                    const std::function<void(int32_t, double)>& on_chunk) {
  const int32_t n_ctx = options.n_ctx;
  if (n_ctx < 4) throw Error(str("perplexity needs a context of at least 4 tokens, not ", n_ctx));
  const std::vector<int32_t> tokens = tokenizer.encode(text, true, false);
  if (static_cast<int64_t>(tokens.size()) < 2 * static_cast<int64_t>(n_ctx)) {
    throw Error(str("the text has ", tokens.size(), " tokens; perplexity with a context of ", n_ctx,
                    " needs at least ", 2 * n_ctx, " (use a longer text or a smaller -c)"));
  }
  const auto n_chunks = static_cast<int32_t>(tokens.size() / static_cast<size_t>(n_ctx));
  const auto n_vocab = static_cast<uint32_t>(model.info().n_vocab);
  const int32_t first = n_ctx / 2;
  const std::span<const int32_t> used(tokens.data(),
                                      static_cast<size_t>(n_chunks) * static_cast<size_t>(n_ctx));
  const KlHeader header{static_cast<uint32_t>(n_ctx), n_vocab, static_cast<uint32_t>(n_chunks)};
  std::optional<KlBaseWriter> writer;
  std::optional<KlBaseReader> reader;
  if (!options.save_base_path.empty()) writer.emplace(options.save_base_path, header, used);
  if (!options.compare_base_path.empty()) reader.emplace(options.compare_base_path, header, used);

  Session session(model, n_ctx, pool, std::clamp(options.n_batch, 1, n_ctx), options.cache_types);
  const int32_t bos = tokenizer.vocab().bos;
  Moments nll, kl, base_nll;
  int64_t agreements = 0;
  std::vector<float> logprobs, base(n_vocab);
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  for (int32_t c = 0; c < n_chunks; ++c) {
    std::copy_n(used.begin() + static_cast<std::ptrdiff_t>(c) * n_ctx, n_ctx, chunk.begin());
    if (bos >= 0 && tokenizer.vocab().add_bos)
      chunk[0] = bos;  // each chunk reads as a document start
    session.reset();
    const std::span<const float> logits = session.eval_all(chunk);
    for (int32_t j = first; j < n_ctx - 1; ++j) {
      log_softmax(logits.subspan(static_cast<size_t>(j) * n_vocab, n_vocab), logprobs);
      const auto next = static_cast<size_t>(chunk[static_cast<size_t>(j) + 1]);
      nll.add(-logprobs[next]);
      if (writer) writer->write_row(logprobs);
      if (reader) {
        reader->read_row(base);
        double divergence = 0.0;
        for (size_t v = 0; v < n_vocab; ++v) {
          divergence +=
              std::exp(static_cast<double>(base[v])) * (static_cast<double>(base[v]) - logprobs[v]);
        }
        kl.add(divergence);
        base_nll.add(-base[next]);
        agreements += std::max_element(base.begin(), base.end()) - base.begin() ==
                      std::max_element(logprobs.begin(), logprobs.end()) - logprobs.begin();
      }
    }
    on_chunk(c + 1, std::exp(nll.mean()));
  }
  if (writer) writer->commit();

  PerplexityResult result;
  result.n_chunks = n_chunks;
  result.n_scored = nll.count;
  result.ppl = std::exp(nll.mean());
  result.ppl_uncertainty = result.ppl * nll.standard_error();
  if (reader) {
    KlDivergenceStats stats;
    stats.mean_kl = kl.mean();
    stats.kl_uncertainty = kl.standard_error();
    stats.top1_agreement = static_cast<double>(agreements) / static_cast<double>(kl.count);
    stats.base_ppl = std::exp(base_nll.mean());
    stats.ppl_ratio = result.ppl / stats.base_ppl;
    result.kl = stats;
  }
  return result;
}

}  // namespace bottega
