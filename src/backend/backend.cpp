#include "backend/backend.h"

#include "core/error.h"

namespace bottega::backend {

Tensor Tensor::row_range(int64_t begin, int64_t count) const {
  BOTTEGA_CHECK(begin >= 0 && count >= 0 && begin + count <= rows, "rows ", begin, "+", count,
                " of ", rows);
  Tensor view = *this;
  view.offset += begin * stride;
  view.rows = count;
  return view;
}

Tensor Tensor::columns(int64_t begin, int64_t count) const {
  BOTTEGA_CHECK(begin >= 0 && count >= 0 && begin + count <= width, "columns ", begin, "+", count,
                " of ", width);
  Tensor view = *this;
  view.offset += begin;
  view.width = count;
  return view;
}

Tensor Tensor::reshaped(int64_t new_width) const {
  BOTTEGA_CHECK(contiguous() && new_width > 0 && size() % new_width == 0, "reshape of ", rows, "x",
                width, " to width ", new_width);
  Tensor view = *this;
  view.rows = size() / new_width;
  view.width = new_width;
  view.stride = new_width;
  return view;
}

Tensor Buffer::tensor(int64_t rows, int64_t width) const {
  BOTTEGA_CHECK(rows >= 0 && width >= 0 && rows * width <= size(), "a ", rows, "x", width,
                " view of a buffer of ", size());
  return Tensor{this, 0, rows, width, width};
}

}  // namespace bottega::backend
