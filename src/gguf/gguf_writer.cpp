#include "gguf/gguf.h"
