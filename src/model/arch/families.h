// The architecture files' table rows, collected by model/architecture.cpp.
#pragma once

#include "model/architecture.h"
#include "model/encoder_config.h"

namespace bottega::arch {

extern const Architecture kLlama;
extern const Architecture kQwen2;
extern const Architecture kQwen3;
extern const Architecture kGemma2;
extern const Architecture kGemma3;
extern const Architecture kPhi3;
extern const Architecture kQwen2Moe;
extern const Architecture kQwen3Moe;
extern const Architecture kGptOss;

// Encoders (embedding models), collected by model/encoder_config.cpp.
extern const EncoderArchitecture kBert;
extern const EncoderArchitecture kNomicBert;

}  // namespace bottega::arch
