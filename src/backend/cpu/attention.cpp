#include "backend/cpu/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/kv_rows.h"
#include "kernels/cpu/ops.h"

namespace bottega::backend::cpu {
namespace {

constexpr float kInfinity = std::numeric_limits<float>::infinity();
// The smallest group of query heads per KV head that attends in lanes.
constexpr int64_t kMinLaneGroup = 4;

// Consecutive batch tokens of one sequence at consecutive positions (a prompt chunk) read the
// same cached rows, so they are attended together: the rows are decoded once per tile, not once
// per token. Bounded so that a long chunk still splits into enough tasks for every thread.
constexpr int64_t kMaxTileTokens = 16;

struct QueryTile {
  int64_t first = 0;  // batch index
  int64_t count = 0;
};

std::vector<QueryTile> query_tiles(std::span<const BatchToken> batch) {
  std::vector<QueryTile> tiles;
  for (int64_t t = 0; t < static_cast<int64_t>(batch.size()); ++t) {
    const BatchToken& token = batch[static_cast<size_t>(t)];
    if (!tiles.empty()) {
      QueryTile& open = tiles.back();
      const BatchToken& previous = batch[static_cast<size_t>(open.first + open.count - 1)];
      if (open.count < kMaxTileTokens && previous.seq == token.seq &&
          previous.pos + 1 == token.pos) {
        ++open.count;
        continue;
      }
    }
    tiles.push_back({t, 1});
  }
  return tiles;
}

// Where one KV head's values sit in an encoded cache row: inside the whole blocks of the cache
// type that cover them (a head need not start on a block boundary).
struct HeadSlice {
  TensorType type;
  size_t byte_offset;  // of the first covering block in the row
  int64_t n_decoded;   // values in the covering blocks
  int64_t skip;        // values before the head's first one
  int64_t head_dim;

  HeadSlice(TensorType row_type, int64_t offset, int64_t dim) : type(row_type), head_dim(dim) {
    const int64_t block = type_traits(type).block_size;
    const int64_t first = offset / block * block;
    const int64_t end = (offset + head_dim + block - 1) / block * block;
    byte_offset = row_bytes(type, first);
    n_decoded = end - first;
    skip = offset - first;
  }

  // Writes the head's head_dim values of `count` rows, row_bytes apart from `rows`, as floats
  // to consecutive rows of dst.
  void decode_run(const uint8_t* rows, size_t row_bytes, int32_t count, float* dst,
                  std::vector<float>& scratch) const {
    if (type != TensorType::F32 && skip == 0 && n_decoded == head_dim) {
      kernels::decode_rows(type, rows + byte_offset, row_bytes, count, dst, head_dim);
      return;
    }
    for (int32_t j = 0; j < count; ++j) {
      decode(rows + static_cast<size_t>(j) * row_bytes, dst + static_cast<int64_t>(j) * head_dim,
             scratch);
    }
  }

  // Writes the head's head_dim values of `row` as floats to dst.
  void decode(const uint8_t* row, float* dst, std::vector<float>& scratch) const {
    if (type == TensorType::F32) {
      std::memcpy(dst, reinterpret_cast<const float*>(row + byte_offset) + skip,
                  static_cast<size_t>(head_dim) * sizeof(float));
    } else if (skip == 0 && n_decoded == head_dim) {
      kernels::decode_row(type, row + byte_offset, dst, n_decoded);
    } else {
      float* decoded = at_least(scratch, static_cast<size_t>(n_decoded));
      kernels::decode_row(type, row + byte_offset, decoded, n_decoded);
      std::memcpy(dst, decoded + skip, static_cast<size_t>(head_dim) * sizeof(float));
    }
  }
};

// One KV head's rows of one sequence in a layer's paged cache (its keys, or its values), read
// as float rows.
class HeadRows {
 public:
  // kv_head's values among the layer's host slices (KvCache::n_host_slices) at layer_slices, each
  // slice_bytes long and of `type`.
  HeadRows(const KvCache& cache, std::span<const int32_t> table, int64_t kv_head, int64_t head_dim,
           TensorType type, const uint8_t* layer_slices, size_t slice_bytes)
      : slice_(type, cache.n_host_slices() > 1 ? 0 : kv_head * head_dim, head_dim),
        cache_(cache),
        table_(table),
        host_slice_(cache.n_host_slices() > 1 ? static_cast<int>(kv_head) : 0),
        layer_slices_(layer_slices),
        slice_bytes_(slice_bytes) {}

  // Writes positions first..end-1 as consecutive float rows to dst, and asks for the rows that
  // follow (up to `fetch_end`) to be brought into the cache meanwhile.
  void gather(int32_t first, int32_t end, int32_t fetch_end, float* dst,
              std::vector<float>& scratch) const {
    for (int32_t p = first; p < end;) {
      const int32_t run = run_at(p, end);
      const int32_t ahead = p + kPrefetchRows;
      if (ahead < fetch_end) prefetch(ahead, run_at(ahead, fetch_end));
      slice_.decode_run(slice_at(p), slice_bytes_, run, dst, scratch);
      dst += static_cast<int64_t>(run) * slice_.head_dim;
      p += run;
    }
  }

 private:
  // Position p and the rest of its cache block, up to end, follow each other slice_bytes apart.
  int32_t run_at(int32_t p, int32_t end) const {
    return std::min(cache_.block_size() - p % cache_.block_size(), end - p);
  }

  const uint8_t* slice_at(int32_t p) const {
    return layer_slices_ + cache_.slice_in_layer(table_, p, host_slice_) * slice_bytes_;
  }

  void prefetch(int32_t p, int32_t count) const {
    const uint8_t* first = slice_at(p) + slice_.byte_offset;
    const size_t bytes = row_bytes(slice_.type, slice_.n_decoded);
    for (int32_t j = 0; j < count; ++j) {
      for (size_t b = 0; b < bytes; b += kCacheLine) {
        __builtin_prefetch(first + static_cast<size_t>(j) * slice_bytes_ + b);
      }
    }
  }

  static constexpr int32_t kPrefetchRows = 64;
  static constexpr size_t kCacheLine = 64;
  HeadSlice slice_;
  const KvCache& cache_;
  std::span<const int32_t> table_;
  int host_slice_;
  const uint8_t* layer_slices_;
  size_t slice_bytes_;
};

struct TileTask {
  std::span<const BatchToken> batch;
  std::span<const std::span<const int32_t>> tables;
  const KvCache& cache;
  int layer;
  const AttentionShape& shape;
  const float* q;
  float* out;
};

// The first position a token at `pos` sees.
int32_t first_visible(int32_t pos, int32_t window) {
  return window > 0 ? std::max(0, pos - window + 1) : 0;
}

// The key and value rows one KV head's queries of a tile see: positions begin..end-1.
struct TileRows {
  HeadRows keys;
  HeadRows values;
  int32_t begin;
  int32_t end;
};

// Where query i of a tile (token i / group, head i % group of the KV head's group) sits in q and
// out, and which of the tile's rows it sees: [skip, skip + n_visible).
struct TileQuery {
  int64_t offset;
  int32_t skip;
  int32_t n_visible;
  float sink;  // its sink's score, or -inf where the model has none
};

TileQuery tile_query(const TileTask& task, const QueryTile& tile, int64_t kv_head, int32_t begin,
                     int64_t i) {
  const AttentionShape& shape = task.shape;
  const int64_t group = shape.n_head / shape.n_head_kv;
  const int64_t t = tile.first + i / group;
  const int64_t head = kv_head * group + i % group;
  const int32_t pos = task.batch[static_cast<size_t>(t)].pos;
  const int32_t skip = first_visible(pos, shape.window) - begin;
  return {t * shape.n_head * shape.head_dim + head * shape.head_dim, skip, pos + 1 - begin - skip,
          shape.sinks != nullptr ? shape.sinks[head] : -kInfinity};
}

// One query at a time over all of the tile's rows as floats: its scores, their softmax and the
// weighted sum of the value rows.
void attend_one_by_one(const TileTask& task, const QueryTile& tile, int64_t kv_head,
                       const TileRows& rows, Scratch::Thread& s) {
  const AttentionShape& shape = task.shape;
  const int64_t head_dim = shape.head_dim;
  const int64_t n_queries = tile.count * (shape.n_head / shape.n_head_kv);
  const int32_t n_rows = rows.end - rows.begin;
  const size_t n_floats = static_cast<size_t>(n_rows) * static_cast<size_t>(head_dim);
  float* keys = at_least(s.keys, n_floats);
  float* values = at_least(s.values, n_floats);
  rows.keys.gather(rows.begin, rows.end, rows.end, keys, s.decode);
  rows.values.gather(rows.begin, rows.end, rows.end, values, s.decode);
  float* scores = at_least(s.scores, static_cast<size_t>(n_rows) + 1);  // + 1: for a sink
  for (int64_t i = 0; i < n_queries; ++i) {
    const TileQuery query = tile_query(task, tile, kv_head, rows.begin, i);
    const int32_t n_visible = query.n_visible;
    const int64_t skipped = static_cast<int64_t>(query.skip) * head_dim;
    kernels::dot_rows(task.q + query.offset, keys + skipped, n_visible, head_dim, shape.scale,
                      scores);
    if (shape.softcap > 0.0f) kernels::softcap(scores, n_visible, shape.softcap);
    if (shape.sinks != nullptr) {
      // The sink is one more score in the softmax, whose probability no value row receives.
      scores[n_visible] = query.sink;
      kernels::softmax(scores, n_visible + 1);
    } else {
      kernels::softmax(scores, n_visible);
    }
    float* o = task.out + query.offset;
    std::fill_n(o, head_dim, 0.0f);
    kernels::accumulate_rows(scores, values + skipped, n_visible, head_dim, o);
  }
}

// A block of up to 16 queries side by side in float lanes, over all of the tile's rows; what a
// query may not see is masked to -inf before the softmax.
struct LaneBlock {
  int64_t width;    // lanes: a multiple of kQueryLanes
  float* q_t;       // [head_dim][width], scaled
  float* scores_t;  // [n_scored][width]
  float* out_t;     // [head_dim][width]
};

// The tile's rows are read a chunk at a time, small enough to stay in the first-level cache while
// every block of queries works through it: the whole range as floats is megabytes at a few
// thousand positions, written and read back through the outer caches.
constexpr int32_t kChunkRows = 64;

void attend_lanes(const TileTask& task, const QueryTile& tile, int64_t kv_head,
                  const TileRows& rows, const kernels::AttentionRowKernels& k, Scratch::Thread& s) {
  constexpr int64_t kBlockQueries = 2 * kernels::kQueryLanes;
  const AttentionShape& shape = task.shape;
  const int64_t head_dim = shape.head_dim;
  const int64_t n_queries = tile.count * (shape.n_head / shape.n_head_kv);
  const int64_t n_blocks = (n_queries + kBlockQueries - 1) / kBlockQueries;
  const int32_t n_rows = rows.end - rows.begin;
  const bool has_sinks = shape.sinks != nullptr;
  const int64_t n_scored = n_rows + (has_sinks ? 1 : 0);  // the sinks' scores as one more row
  const auto block_floats = [&](int64_t per_lane) {
    return static_cast<size_t>(n_blocks * kBlockQueries * per_lane);
  };
  float* q_all = at_least(s.queries_t, block_floats(head_dim));
  float* out_all = at_least(s.outputs_t, block_floats(head_dim));
  float* scores_all = at_least(s.scores, block_floats(n_scored));
  float* chunk = at_least(s.keys, static_cast<size_t>(kChunkRows * head_dim));
  std::vector<TileQuery> queries(static_cast<size_t>(n_blocks * kBlockQueries));
  std::vector<LaneBlock> blocks(static_cast<size_t>(n_blocks));
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t first = b * kBlockQueries;
    const int64_t count = std::min(kBlockQueries, n_queries - first);
    const int64_t width =
        (count + kernels::kQueryLanes - 1) / kernels::kQueryLanes * kernels::kQueryLanes;
    const int64_t offset = b * kBlockQueries;
    LaneBlock& block = blocks[static_cast<size_t>(b)];
    block = {width, q_all + offset * head_dim, scores_all + offset * n_scored,
             out_all + offset * head_dim};
    for (int64_t l = 0; l < width; ++l) {
      // Lanes past the last query repeat it, so that every lane's softmax has a finite score.
      TileQuery& query = queries[static_cast<size_t>(offset + l)];
      query = tile_query(task, tile, kv_head, rows.begin, first + std::min(l, count - 1));
      const float* q = task.q + query.offset;
      for (int64_t d = 0; d < head_dim; ++d) block.q_t[d * width + l] = q[d] * shape.scale;
    }
    std::fill_n(block.out_t, head_dim * width, 0.0f);
  }
  for (int32_t c = 0; c < n_rows; c += kChunkRows) {
    const int32_t count = std::min(kChunkRows, n_rows - c);
    rows.keys.gather(rows.begin + c, rows.begin + c + count, rows.end, chunk, s.decode);
    for (const LaneBlock& block : blocks) {
      k.dot_lanes(block.q_t, chunk, count, head_dim, block.width, block.scores_t + c * block.width);
    }
  }
  for (int64_t b = 0; b < n_blocks; ++b) {
    const LaneBlock& block = blocks[static_cast<size_t>(b)];
    const int64_t width = block.width;
    float* scores_t = block.scores_t;
    if (shape.softcap > 0.0f) kernels::softcap(scores_t, n_rows * width, shape.softcap);
    for (int64_t l = 0; l < width; ++l) {
      const TileQuery& query = queries[static_cast<size_t>(b * kBlockQueries + l)];
      for (int32_t r = 0; r < query.skip; ++r) scores_t[r * width + l] = -kInfinity;
      for (int32_t r = query.skip + query.n_visible; r < n_rows; ++r) {
        scores_t[r * width + l] = -kInfinity;
      }
      if (has_sinks) scores_t[n_rows * width + l] = query.sink;
    }
    k.softmax_lanes(scores_t, n_scored, width);
  }
  for (int32_t c = 0; c < n_rows; c += kChunkRows) {
    const int32_t count = std::min(kChunkRows, n_rows - c);
    rows.values.gather(rows.begin + c, rows.begin + c + count, rows.end, chunk, s.decode);
    for (const LaneBlock& block : blocks) {
      k.weighted_sum_lanes(block.scores_t + c * block.width, chunk, count, head_dim, block.width,
                           block.out_t);
    }
  }
  for (int64_t i = 0; i < n_queries; ++i) {
    const LaneBlock& block = blocks[static_cast<size_t>(i / kBlockQueries)];
    float* o = task.out + queries[static_cast<size_t>(i)].offset;
    const int64_t l = i % kBlockQueries;
    for (int64_t d = 0; d < head_dim; ++d) o[d] = block.out_t[d * block.width + l];
  }
}

void attend_tile(const TileTask& task, const QueryTile& tile, int64_t kv_head, Scratch::Thread& s) {
  const AttentionShape& shape = task.shape;
  const BatchToken& first = task.batch[static_cast<size_t>(tile.first)];
  const BatchToken& last = task.batch[static_cast<size_t>(tile.first + tile.count - 1)];
  const auto table = task.tables[static_cast<size_t>(last.seq)];
  const KvCache& cache = task.cache;
  const HostKvLayer& layer = cache.host_layer(task.layer);
  // The tile's tokens are consecutive, so together they see one range of positions.
  const TileRows rows{HeadRows(cache, table, kv_head, shape.head_dim, cache.key_type(),
                               layer.keys.data(), cache.key_slice_bytes()),
                      HeadRows(cache, table, kv_head, shape.head_dim, cache.value_type(),
                               layer.values.data(), cache.value_slice_bytes()),
                      first_visible(first.pos, shape.window), last.pos + 1};
  const kernels::AttentionRowKernels& k = kernels::best_attention_row_kernels();
  // Chosen by the model's shape alone, never by the tile, so that a token's result is the same
  // in a prompt tile and alone (batch invariance): groups of 4 or more heads fill half a block of
  // lanes or more when a token decodes alone, and there the lanes run no slower than the rows.
  if (k.dot_lanes != nullptr && shape.n_head / shape.n_head_kv >= kMinLaneGroup) {
    attend_lanes(task, tile, kv_head, rows, k, s);
  } else {
    attend_one_by_one(task, tile, kv_head, rows, s);
  }
}

}  // namespace

void paged_attention(std::span<const BatchToken> batch,
                     std::span<const std::span<const int32_t>> tables, const KvCache& cache,
                     int layer, const AttentionShape& shape, const float* q, float* out,
                     ThreadPool& pool, Scratch& scratch) {
  BOTTEGA_CHECK(cache.n_host_slices() == 1 || cache.n_host_slices() == shape.n_head_kv,
                "a cache of ", cache.n_host_slices(), " slices a row for ", shape.n_head_kv,
                " KV heads");
  const std::vector<QueryTile> tiles = query_tiles(batch);
  const TileTask task{batch, tables, cache, layer, shape, q, out};
  const auto n_tasks = static_cast<int64_t>(tiles.size()) * shape.n_head_kv;
  // Tasks are claimed one at a time, so threads stay busy although causal tiles differ in cost;
  // the last tiles (the most positions) go first so that no long task starts at the end.
  std::atomic<int64_t> next{0};
  scratch.grow_threads(pool.size());
  pool.run([&](int thread, int) {
    Scratch::Thread& own = scratch.threads[static_cast<size_t>(thread)];
    for (int64_t claimed = next.fetch_add(1); claimed < n_tasks; claimed = next.fetch_add(1)) {
      const int64_t index = n_tasks - 1 - claimed;
      attend_tile(task, tiles[static_cast<size_t>(index / shape.n_head_kv)],
                  index % shape.n_head_kv, own);
    }
  });
}

}  // namespace bottega::backend::cpu
