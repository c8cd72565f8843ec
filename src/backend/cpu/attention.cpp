#include "backend/cpu/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

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

// Gathers positions first..end-1 of one KV head from the paged cache into contiguous float rows.
template <typename RowAt>
void gather_head(const HeadSlice& slice, int32_t first, int32_t end, int32_t block_size,
                 size_t row_bytes, RowAt row_at, std::vector<float>& dst,
                 std::vector<float>& scratch) {
  float* out =
      at_least(dst, static_cast<size_t>(end - first) * static_cast<size_t>(slice.head_dim));
  for (int32_t p = first; p < end;) {
    const uint8_t* rows = row_at(p);  // position p and the rest of its block follow it
    const int32_t run = std::min(block_size - p % block_size, end - p);
    slice.decode_run(rows, row_bytes, run, out, scratch);
    out += static_cast<int64_t>(run) * slice.head_dim;
    p += run;
  }
}

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

// The gathered key and value rows of one KV head, from position `begin` on.
struct TileRows {
  const float* keys;
  const float* values;
  int32_t begin;
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

// One query at a time: its scores, their softmax and the weighted sum of the value rows.
void attend_one_by_one(const TileTask& task, const QueryTile& tile, int64_t kv_head,
                       const TileRows& rows, Scratch::Thread& s) {
  const AttentionShape& shape = task.shape;
  const int64_t head_dim = shape.head_dim;
  const int64_t n_queries = tile.count * (shape.n_head / shape.n_head_kv);
  const int32_t n_rows =
      task.batch[static_cast<size_t>(tile.first + tile.count - 1)].pos + 1 - rows.begin;
  float* scores = at_least(s.scores, static_cast<size_t>(n_rows) + 1);  // + 1: for a sink
  for (int64_t i = 0; i < n_queries; ++i) {
    const TileQuery query = tile_query(task, tile, kv_head, rows.begin, i);
    const int32_t n_visible = query.n_visible;
    const float* keys = rows.keys + static_cast<int64_t>(query.skip) * head_dim;
    const float* values = rows.values + static_cast<int64_t>(query.skip) * head_dim;
    kernels::dot_rows(task.q + query.offset, keys, n_visible, head_dim, shape.scale, scores);
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
    kernels::accumulate_rows(scores, values, n_visible, head_dim, o);
  }
}

// Blocks of up to 16 queries side by side in float lanes, every block over all of the tile's
// rows; what a query may not see is masked to -inf before the softmax.
void attend_lanes(const TileTask& task, const QueryTile& tile, int64_t kv_head,
                  const TileRows& rows, const kernels::AttentionRowKernels& k, Scratch::Thread& s) {
  constexpr int64_t kBlockQueries = 2 * kernels::kQueryLanes;
  const AttentionShape& shape = task.shape;
  const int64_t head_dim = shape.head_dim;
  const int64_t n_queries = tile.count * (shape.n_head / shape.n_head_kv);
  const int32_t n_rows =
      task.batch[static_cast<size_t>(tile.first + tile.count - 1)].pos + 1 - rows.begin;
  const bool has_sinks = shape.sinks != nullptr;
  const int64_t n_scored = n_rows + (has_sinks ? 1 : 0);  // the sinks' scores as one more row
  float* q_t = at_least(s.queries_t, static_cast<size_t>(head_dim * kBlockQueries));
  float* out_t = at_least(s.outputs_t, static_cast<size_t>(head_dim * kBlockQueries));
  float* scores_t = at_least(s.scores, static_cast<size_t>(n_scored * kBlockQueries));
  TileQuery queries[kBlockQueries];
  for (int64_t first = 0; first < n_queries; first += kBlockQueries) {
    const int64_t count = std::min(kBlockQueries, n_queries - first);
    const int64_t width =
        (count + kernels::kQueryLanes - 1) / kernels::kQueryLanes * kernels::kQueryLanes;
    for (int64_t l = 0; l < width; ++l) {
      // Lanes past the last query repeat it, so that every lane's softmax has a finite score.
      queries[l] = tile_query(task, tile, kv_head, rows.begin, first + std::min(l, count - 1));
      const float* q = task.q + queries[l].offset;
      for (int64_t d = 0; d < head_dim; ++d) q_t[d * width + l] = q[d] * shape.scale;
    }
    k.dot_lanes(q_t, rows.keys, n_rows, head_dim, width, scores_t);
    if (shape.softcap > 0.0f) kernels::softcap(scores_t, n_rows * width, shape.softcap);
    for (int64_t l = 0; l < width; ++l) {
      const TileQuery& query = queries[l];
      for (int32_t r = 0; r < query.skip; ++r) scores_t[r * width + l] = -kInfinity;
      for (int32_t r = query.skip + query.n_visible; r < n_rows; ++r) {
        scores_t[r * width + l] = -kInfinity;
      }
      if (has_sinks) scores_t[n_rows * width + l] = query.sink;
    }
    k.softmax_lanes(scores_t, n_scored, width);
    k.weighted_sum_lanes(scores_t, rows.values, n_rows, head_dim, width, out_t);
    for (int64_t l = 0; l < count; ++l) {
      float* o = task.out + queries[l].offset;
      for (int64_t d = 0; d < head_dim; ++d) o[d] = out_t[d * width + l];
    }
  }
}

void attend_tile(const TileTask& task, const QueryTile& tile, int64_t kv_head, Scratch::Thread& s) {
  const AttentionShape& shape = task.shape;
  const int64_t head_dim = shape.head_dim;
  const BatchToken& first = task.batch[static_cast<size_t>(tile.first)];
  const BatchToken& last = task.batch[static_cast<size_t>(tile.first + tile.count - 1)];
  const auto table = task.tables[static_cast<size_t>(last.seq)];
  // The tile's tokens are consecutive, so together they see one range of positions.
  const int32_t begin = first_visible(first.pos, shape.window);
  const int32_t end = last.pos + 1;
  const KvCache& cache = task.cache;
  const HostKvLayer& rows = cache.host_layer(task.layer);

  const HeadSlice keys(cache.key_type(), kv_head * head_dim, head_dim);
  const HeadSlice values(cache.value_type(), kv_head * head_dim, head_dim);
  gather_head(
      keys, begin, end, cache.block_size(), cache.key_row_bytes(),
      [&](int32_t p) {
        return rows.keys.data() + cache.row_in_layer(table, p) * cache.key_row_bytes();
      },
      s.keys, s.decode);
  gather_head(
      values, begin, end, cache.block_size(), cache.value_row_bytes(),
      [&](int32_t p) {
        return rows.values.data() + cache.row_in_layer(table, p) * cache.value_row_bytes();
      },
      s.values, s.decode);

  const TileRows tile_rows{s.keys.data(), s.values.data(), begin};
  const kernels::AttentionRowKernels& k = kernels::best_attention_row_kernels();
  // Chosen by the model's shape alone, never by the tile, so that a token's result is the same
  // in a prompt tile and alone (batch invariance): groups of 4 or more heads fill half a block of
  // lanes or more when a token decodes alone, and there the lanes run no slower than the rows.
  if (k.dot_lanes != nullptr && shape.n_head / shape.n_head_kv >= kMinLaneGroup) {
    attend_lanes(task, tile, kv_head, tile_rows, k, s);
  } else {
    attend_one_by_one(task, tile, kv_head, tile_rows, s);
  }
}

}  // namespace

void paged_attention(std::span<const BatchToken> batch,
                     std::span<const std::span<const int32_t>> tables, const KvCache& cache,
                     int layer, const AttentionShape& shape, const float* q, float* out,
                     ThreadPool& pool, Scratch& scratch) {
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
