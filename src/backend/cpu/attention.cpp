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

  // Asks for the first rows of positions first..end-1 to be brought into the cache, ahead of
  // their gather.
  void warm(int32_t first, int32_t end) const {
    const int32_t last = std::min(end, first + kPrefetchRows);
    for (int32_t p = first; p < last;) {
      const int32_t run = run_at(p, last);
      prefetch(p, run);
      p += run;
    }
  }

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

// In lanes, positions are attended in segments fixed by absolute position (0..511, 512..1023, ...):
// each query's softmax is taken per segment, and the segments combine by their maxima and
// normalisers (flash-decoding), so that one long decode spreads its positions over the threads
// where it has fewer KV heads than the pool has threads. Fixed by position, never by the batch or
// the pool, so that a token gets the same bits alone, in a prompt tile and on any thread count.
constexpr int32_t kSegmentRows = 512;
// Fewer (tile, KV head) pairs than this per thread: their segments are the work instead.
constexpr int64_t kSplitBelowPairsPerThread = 2;

int32_t segment_of(int32_t pos) {
  return pos / kSegmentRows;
}

// One query's result over one segment: its head_dim outputs normalised over the segment, then the
// segment's largest score and its normaliser (0 where the query sees none of the segment).
int64_t partial_floats(int64_t head_dim) {
  return head_dim + 2;
}

// The queries of one tile and KV head: in partials, segment s's query i at
// ((s - first_segment) * n_queries + i) * partial_floats.
struct TileSegments {
  int32_t first_segment;
  int32_t n_segments;
  int64_t n_queries;
};

TileSegments tile_segments(const AttentionShape& shape, const QueryTile& tile,
                           const TileRows& rows) {
  const int32_t first = segment_of(rows.begin);
  return {first, segment_of(rows.end - 1) - first + 1,
          tile.count * (shape.n_head / shape.n_head_kv)};
}

// One query's segments folded in order of position: the largest score so far and the normaliser
// of everything folded, whose softmax the output holds.
struct SegmentFold {
  float max = -kInfinity;
  float sum = 0.0f;  // 0: nothing folded yet
};

// The weights that fold a segment's outputs o (its largest score and normaliser given) into a
// query's output: out = keep * out + take * o, both sides weighted by their share of the softmax
// over all they cover. The first segment a query sees takes (0, 1), one it does not see (1, 0),
// so every segment is the same float steps on an output that starts at 0, whether it is folded
// in lanes or, after a split, from stored partials: a token's bits do not depend on the pool.
struct FoldWeights {
  float keep;
  float take;
};

FoldWeights fold_weights(SegmentFold& fold, float seg_max, float seg_sum) {
  if (seg_sum <= 0.0f) return {1.0f, 0.0f};  // the query sees none of the segment
  if (fold.sum == 0.0f) {
    fold = {seg_max, seg_sum};
    return {0.0f, 1.0f};
  }
  const float top = std::max(fold.max, seg_max);
  const float before = std::exp(fold.max - top) * fold.sum;
  const float added = std::exp(seg_max - top) * seg_sum;
  const float total = before + added;
  fold = {top, total};
  return {before / total, added / total};
}

// Segments [segment, segment_end) of a tile's queries for one KV head, in lanes. With partials
// set, each segment's partials are stored there (the tile's layout of TileSegments, from `segment`
// on); else they are folded in lanes as each segment ends, and the queries' outputs written last.
void attend_lanes(const TileTask& task, const QueryTile& tile, int64_t kv_head,
                  const TileRows& rows, int32_t segment, int32_t segment_end,
                  const kernels::AttentionRowKernels& k, Scratch::Thread& s, float* partials) {
  constexpr int64_t kBlockQueries = 2 * kernels::kQueryLanes;
  const AttentionShape& shape = task.shape;
  const int64_t head_dim = shape.head_dim;
  const int64_t n_queries = tile.count * (shape.n_head / shape.n_head_kv);
  const int64_t n_blocks = (n_queries + kBlockQueries - 1) / kBlockQueries;
  const bool has_sinks = shape.sinks != nullptr;
  const int64_t most_scored = kSegmentRows + 1;  // a segment's rows and a sink
  const auto block_floats = [&](int64_t per_lane) {
    return static_cast<size_t>(n_blocks * kBlockQueries * per_lane);
  };
  float* q_all = at_least(s.queries_t, block_floats(head_dim));
  float* out_all = at_least(s.outputs_t, block_floats(head_dim));
  float* scores_all = at_least(s.scores, block_floats(most_scored + 2));
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
    // Past each block's scores: its lanes' maxima and normalisers.
    block = {width, q_all + offset * head_dim, scores_all + offset * (most_scored + 2),
             out_all + offset * head_dim};
    for (int64_t l = 0; l < width; ++l) {
      // Lanes past the last query repeat it, so that every lane's softmax has a finite score.
      TileQuery& query = queries[static_cast<size_t>(offset + l)];
      query = tile_query(task, tile, kv_head, rows.begin, first + std::min(l, count - 1));
      const float* q = task.q + query.offset;
      for (int64_t d = 0; d < head_dim; ++d) block.q_t[d * width + l] = q[d] * shape.scale;
    }
  }
  const int64_t stride = partial_floats(head_dim);
  // Folding in place: each block's outputs so far, transposed like out_t, and its lanes' folds.
  const bool fold_here = partials == nullptr;
  float* acc_all = fold_here ? at_least(s.folded_t, block_floats(head_dim)) : nullptr;
  std::vector<SegmentFold> folds(fold_here ? static_cast<size_t>(n_blocks * kBlockQueries) : 0);
  if (fold_here) std::fill_n(acc_all, block_floats(head_dim), 0.0f);
  for (int32_t seg = segment; seg < segment_end; ++seg) {
    const int32_t begin = std::max(rows.begin, seg * kSegmentRows);
    const int32_t end = std::min(rows.end, (seg + 1) * kSegmentRows);
    const int32_t n_rows = end - begin;
    const int64_t n_scored = n_rows + (has_sinks ? 1 : 0);  // the sinks' scores as one more row
    for (int32_t c = 0; c < n_rows; c += kChunkRows) {
      const int32_t count = std::min(kChunkRows, n_rows - c);
      // Each gather fetches its own rows ahead; the segment's values, then the next segment's
      // keys, are asked for during the last chunk before them.
      if (c + count == n_rows) rows.values.warm(begin, end);
      rows.keys.gather(begin + c, begin + c + count, end, chunk, s.decode);
      for (const LaneBlock& block : blocks) {
        k.dot_lanes(block.q_t, chunk, count, head_dim, block.width,
                    block.scores_t + c * block.width);
      }
    }
    for (int64_t b = 0; b < n_blocks; ++b) {
      const LaneBlock& block = blocks[static_cast<size_t>(b)];
      const int64_t width = block.width;
      float* scores_t = block.scores_t;
      if (shape.softcap > 0.0f) kernels::softcap(scores_t, n_rows * width, shape.softcap);
      bool unseen[kBlockQueries];
      for (int64_t l = 0; l < width; ++l) {
        // The rows of this segment the query sees; one that sees none keeps its finite scores,
        // and its normaliser becomes 0 below. Its sink joins the segment of its own position.
        const TileQuery& query = queries[static_cast<size_t>(b * kBlockQueries + l)];
        const int32_t seen_from = std::max(rows.begin + query.skip, begin) - begin;
        const int32_t seen_to = std::min(rows.begin + query.skip + query.n_visible, end) - begin;
        unseen[l] = seen_from >= seen_to;
        if (!unseen[l]) {
          for (int32_t r = 0; r < seen_from; ++r) scores_t[r * width + l] = -kInfinity;
          for (int32_t r = seen_to; r < n_rows; ++r) scores_t[r * width + l] = -kInfinity;
        }
        const int32_t own_pos = rows.begin + query.skip + query.n_visible - 1;
        if (has_sinks) {
          scores_t[n_rows * width + l] = segment_of(own_pos) == seg ? query.sink : -kInfinity;
        }
      }
      float* lane_max = scores_t + most_scored * width;
      float* lane_sum = lane_max + width;
      k.softmax_lanes(scores_t, n_scored, width, lane_max, lane_sum);
      for (int64_t l = 0; l < width; ++l) {
        if (unseen[l]) lane_sum[l] = 0.0f;  // what the folds skip
      }
      std::fill_n(block.out_t, head_dim * width, 0.0f);
    }
    for (int32_t c = 0; c < n_rows; c += kChunkRows) {
      const int32_t count = std::min(kChunkRows, n_rows - c);
      if (c + count == n_rows && seg + 1 < segment_end) rows.keys.warm(end, rows.end);
      rows.values.gather(begin + c, begin + c + count, end, chunk, s.decode);
      for (const LaneBlock& block : blocks) {
        k.weighted_sum_lanes(block.scores_t + c * block.width, chunk, count, head_dim, block.width,
                             block.out_t);
      }
    }
    // A lane's normaliser over the segment, 0 where its query sees none of it.
    const auto seen_sum = [&](const LaneBlock& block, int64_t i) {
      return block.scores_t[(most_scored + 1) * block.width + i % kBlockQueries];
    };
    if (fold_here) {
      for (int64_t b = 0; b < n_blocks; ++b) {
        const LaneBlock& block = blocks[static_cast<size_t>(b)];
        const int64_t width = block.width;
        float keep[kBlockQueries], take[kBlockQueries];
        for (int64_t l = 0; l < width; ++l) {
          const int64_t i = b * kBlockQueries + l;
          const FoldWeights w =
              fold_weights(folds[static_cast<size_t>(i)], block.scores_t[most_scored * width + l],
                           seen_sum(block, i));
          keep[l] = w.keep;
          take[l] = w.take;
        }
        float* acc_t = acc_all + b * kBlockQueries * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) {
          for (int64_t l = 0; l < width; ++l) {
            acc_t[d * width + l] =
                keep[l] * acc_t[d * width + l] + take[l] * block.out_t[d * width + l];
          }
        }
      }
      continue;
    }
    for (int64_t i = 0; i < n_queries; ++i) {
      const LaneBlock& block = blocks[static_cast<size_t>(i / kBlockQueries)];
      const int64_t l = i % kBlockQueries;
      float* partial = partials + ((seg - segment) * n_queries + i) * stride;
      for (int64_t d = 0; d < head_dim; ++d) partial[d] = block.out_t[d * block.width + l];
      partial[head_dim] = block.scores_t[most_scored * block.width + l];
      partial[head_dim + 1] = seen_sum(block, i);
    }
  }
  if (fold_here) {
    for (int64_t i = 0; i < n_queries; ++i) {
      const LaneBlock& block = blocks[static_cast<size_t>(i / kBlockQueries)];
      const float* acc_t = acc_all + (i / kBlockQueries) * kBlockQueries * head_dim;
      float* o = task.out + queries[static_cast<size_t>(i)].offset;
      const int64_t l = i % kBlockQueries;
      for (int64_t d = 0; d < head_dim; ++d) o[d] = acc_t[d * block.width + l];
    }
  }
}

// Every query of a tile's KV head from its partials (TileSegments' layout).
void combine_tile(const TileTask& task, const QueryTile& tile, int64_t kv_head, int32_t begin,
                  const TileSegments& segments, const float* partials) {
  const int64_t head_dim = task.shape.head_dim;
  const int64_t stride = partial_floats(head_dim);
  for (int64_t i = 0; i < segments.n_queries; ++i) {
    const TileQuery query = tile_query(task, tile, kv_head, begin, i);
    float* out = task.out + query.offset;
    std::fill_n(out, head_dim, 0.0f);
    SegmentFold fold;
    for (int32_t seg = 0; seg < segments.n_segments; ++seg) {
      const float* p = partials + (seg * segments.n_queries + i) * stride;
      const FoldWeights w = fold_weights(fold, p[head_dim], p[head_dim + 1]);
      for (int64_t d = 0; d < head_dim; ++d) out[d] = w.keep * out[d] + w.take * p[d];
    }
  }
}

TileRows tile_rows(const TileTask& task, const QueryTile& tile, int64_t kv_head) {
  const AttentionShape& shape = task.shape;
  const BatchToken& first = task.batch[static_cast<size_t>(tile.first)];
  const BatchToken& last = task.batch[static_cast<size_t>(tile.first + tile.count - 1)];
  const auto table = task.tables[static_cast<size_t>(last.seq)];
  const KvCache& cache = task.cache;
  const HostKvLayer& layer = cache.host_layer(task.layer);
  // The tile's tokens are consecutive, so together they see one range of positions.
  return {HeadRows(cache, table, kv_head, shape.head_dim, cache.key_type(), layer.keys.data(),
                   cache.key_slice_bytes()),
          HeadRows(cache, table, kv_head, shape.head_dim, cache.value_type(), layer.values.data(),
                   cache.value_slice_bytes()),
          first_visible(first.pos, shape.window), last.pos + 1};
}

// Chosen by the model's shape alone, never by the tile, so that a token's result is the same in a
// prompt tile and alone (batch invariance): groups of 4 or more heads fill half a block of lanes
// or more when a token decodes alone, and there the lanes run no slower than the rows.
bool attends_in_lanes(const AttentionShape& shape, const kernels::AttentionRowKernels& k) {
  return k.dot_lanes != nullptr && shape.n_head / shape.n_head_kv >= kMinLaneGroup;
}

// Work for one thread: a tile's KV head, all of its segments folded in place; or, with partials
// set, its segments [segment, segment_end) stored there, to be folded once every segment is done.
struct AttentionWork {
  int64_t tile;
  int64_t kv_head;
  int32_t segment = 0;
  int32_t segment_end = 0;
  float* partials = nullptr;
};

void run_work(const TileTask& task, const std::vector<QueryTile>& tiles, const AttentionWork& work,
              Scratch::Thread& s) {
  const QueryTile& tile = tiles[static_cast<size_t>(work.tile)];
  const TileRows rows = tile_rows(task, tile, work.kv_head);
  const kernels::AttentionRowKernels& k = kernels::best_attention_row_kernels();
  if (!attends_in_lanes(task.shape, k)) {
    attend_one_by_one(task, tile, work.kv_head, rows, s);
    return;
  }
  if (work.partials != nullptr) {
    attend_lanes(task, tile, work.kv_head, rows, work.segment, work.segment_end, k, s,
                 work.partials);
    return;
  }
  const TileSegments segments = tile_segments(task.shape, tile, rows);
  attend_lanes(task, tile, work.kv_head, rows, segments.first_segment,
               segments.first_segment + segments.n_segments, k, s, nullptr);
}

// Claims work items one at a time, so that threads stay busy although they differ in cost.
template <class Fn>
void claim_all(ThreadPool& pool, Scratch& scratch, int64_t n_items, const Fn& fn) {
  std::atomic<int64_t> next{0};
  scratch.grow_threads(pool.size());
  pool.run([&](int thread, int) {
    Scratch::Thread& own = scratch.threads[static_cast<size_t>(thread)];
    for (int64_t claimed = next.fetch_add(1); claimed < n_items; claimed = next.fetch_add(1)) {
      fn(claimed, own);
    }
  });
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
  const auto n_pairs = static_cast<int64_t>(tiles.size()) * shape.n_head_kv;
  // The last tiles (the most positions) go first, so that no long task starts at the end.
  std::vector<AttentionWork> work;
  for (int64_t index = n_pairs - 1; index >= 0; --index) {
    work.push_back({index / shape.n_head_kv, index % shape.n_head_kv});
  }
  // Too few (tile, KV head) pairs to keep every thread busy: their segments become the work, and
  // the queries are combined once all are done.
  const bool split = n_pairs < kSplitBelowPairsPerThread * pool.size() &&
                     attends_in_lanes(shape, kernels::best_attention_row_kernels());
  if (!split) {
    claim_all(pool, scratch, static_cast<int64_t>(work.size()), [&](int64_t i, Scratch::Thread& s) {
      run_work(task, tiles, work[static_cast<size_t>(i)], s);
    });
    return;
  }
  // Every pair's segments, each its own work, then every pair's queries combined.
  std::vector<AttentionWork> pieces;
  std::vector<size_t> piece_offsets;  // of each piece's partials
  std::vector<size_t> pair_offsets;   // of each pair's, in `work`'s order
  size_t n_partials = 0;
  const int64_t stride = partial_floats(shape.head_dim);
  for (const AttentionWork& pair : work) {
    const QueryTile& tile = tiles[static_cast<size_t>(pair.tile)];
    const TileSegments segments = tile_segments(shape, tile, tile_rows(task, tile, pair.kv_head));
    pair_offsets.push_back(n_partials);
    for (int32_t seg = 0; seg < segments.n_segments; ++seg) {
      pieces.push_back({pair.tile, pair.kv_head, segments.first_segment + seg,
                        segments.first_segment + seg + 1});
      piece_offsets.push_back(n_partials);
      n_partials += static_cast<size_t>(segments.n_queries * stride);
    }
  }
  float* partials = at_least(scratch.attention_partials, n_partials);
  for (size_t i = 0; i < pieces.size(); ++i) pieces[i].partials = partials + piece_offsets[i];
  claim_all(pool, scratch, static_cast<int64_t>(pieces.size()), [&](int64_t i, Scratch::Thread& s) {
    run_work(task, tiles, pieces[static_cast<size_t>(i)], s);
  });
  claim_all(pool, scratch, static_cast<int64_t>(work.size()), [&](int64_t i, Scratch::Thread&) {
    const AttentionWork& pair = work[static_cast<size_t>(i)];
    const QueryTile& tile = tiles[static_cast<size_t>(pair.tile)];
    const TileRows rows = tile_rows(task, tile, pair.kv_head);
    combine_tile(task, tile, pair.kv_head, rows.begin, tile_segments(shape, tile, rows),
                 partials + pair_offsets[static_cast<size_t>(i)]);
  });
}

}  // namespace bottega::backend::cpu
