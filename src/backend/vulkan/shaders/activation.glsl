// tanh through exp overflows to inf/inf in some drivers for |x| > ~44; tanh(15) is 1 in float.
float safe_tanh(float v) { return tanh(clamp(v, -15.0, 15.0)); }
