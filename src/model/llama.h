// The Llama family (Llama 2/3, Mistral, TinyLlama, llama2.c models): RMSNorm, RoPE, grouped-query
// attention, SwiGLU feed-forward, tied or separate output head.
#pragma once

#include <memory>

#include "model/model.h"

namespace bottega {

std::unique_ptr<Model> load_llama(gguf::File file);

}  // namespace bottega
