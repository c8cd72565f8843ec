// bottega pull: resolve a reference against the Hub, download its files into the store (resumable,
// SHA-256 verified, installed atomically) and record a manifest.
#pragma once

#include <string>

#include "store/http.h"
#include "store/store.h"

namespace bottega::store {

// $HF_ENDPOINT without a trailing '/', else https://huggingface.co.
std::string hub_endpoint_from_env();

Manifest pull(const Store& store, const std::string& ref_text, const std::string& endpoint,
              const HttpConfig& config);

// The file to open for what a user typed: an existing path, a model already in the store, or a
// Hub reference (OWNER/REPO:QUANT, hf://...) that is pulled first, as `ollama run` does. Anything
// else is an Error saying what was looked for.
std::string resolve_or_pull(const std::string& name_or_path);

}  // namespace bottega::store
