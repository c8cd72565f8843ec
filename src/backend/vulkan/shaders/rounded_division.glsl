// Division rounded as the CPU rounds it, for the shaders that quantize (kv_store.comp,
// quantize_activations.comp): their scales and levels must come out as tensor/quant_ref.cpp's.

// x = hi + lo exactly, each with half of x's significand (Veltkamp's split).
void split(float x, out float hi, out float lo) {
  precise const float c = 4097.0 * x;
  precise const float h = c - (c - x);
  precise const float l = x - h;
  hi = h;
  lo = l;
}

// |a - q * b| to within one rounding: q * b as an exact sum of two floats (Dekker), from
// products and sums alone, which GLSL rounds correctly; fma() may be unfused on some drivers.
float residual(float a, float q, float b) {
  float qh, ql, bh, bl;
  split(q, qh, ql);
  split(b, bh, bl);
  precise const float product = q * b;
  precise const float error = ((qh * bh - product) + qh * bl + ql * bh) + ql * bl;
  precise const float r = (a - product) - error;
  return abs(r);
}

// a / b as IEEE division rounds it, so quantized levels at a rounding tie match the CPU's: GLSL
// lets a division be 2.5 ulp off (lavapipe's is), which moved whole Q8_0 blocks by one level. Of the
// quotient and its neighbours within 2 ulp, the one nearest a / b; an exact quotient is never
// halfway between two floats, so the nearest is the rounded one. Bit patterns step by ulps.
float divide_rounded(float a, float b) {
  const float approximate = a / b;
  float best = approximate;
  float best_residual = residual(a, approximate, b);
  for (int step = -2; step <= 2; ++step) {
    const float candidate = uintBitsToFloat(uint(int(floatBitsToUint(approximate)) + step));
    const float r = residual(a, candidate, b);
    if (r < best_residual) {
      best = candidate;
      best_residual = r;
    }
  }
  return best;
}
