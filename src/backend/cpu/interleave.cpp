#include "backend/cpu/interleave.h"

#include <algorithm>
#include <exception>
#include <map>
#include <thread>
#include <utility>

#include "core/thread_pool.h"
#include "kernels/cpu/matmul.h"

namespace bottega::backend::cpu {

std::vector<std::unique_ptr<uint8_t[]>> interleave_for_cpu(
    const gguf::File* file, const std::vector<WeightMatrix*>& matrices) {
  // First decide what to convert (each tensor once), then convert on every core: conversion and
  // the page faults of the new buffers dominate load time.
  struct Job {
    WeightMatrix* target;
    WeightMatrix stored;
    uint8_t* buffer;
  };
  std::vector<std::unique_ptr<uint8_t[]>> buffers;
  std::vector<Job> jobs;
  std::map<const uint8_t*, size_t> job_of_tensor;  // shared tensors (a tied head) convert once
  std::vector<std::pair<WeightMatrix*, size_t>> sharers;
  for (WeightMatrix* w : matrices) {
    if (w->data == nullptr) continue;
    if (const auto it = job_of_tensor.find(w->data); it != job_of_tensor.end()) {
      sharers.emplace_back(w, it->second);
      continue;
    }
    if (!kernels::prefers_interleaved(*w)) continue;
    buffers.emplace_back(new uint8_t[kernels::interleaved_bytes(*w)]);
    job_of_tensor.emplace(w->data, jobs.size());
    jobs.push_back({w, *w, buffers.back().get()});
  }
  const auto n_threads = static_cast<size_t>(std::max(1, default_thread_count()));
  std::vector<std::exception_ptr> errors(n_threads);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (size_t i = t; i < jobs.size(); i += n_threads) {
          const Job& job = jobs[i];
          *job.target = kernels::interleave(job.stored, job.buffer);
          if (file != nullptr)
            file->release(
                {job.stored.data, job.stored.row_stride() * static_cast<size_t>(job.stored.n_out)});
        }
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  for (const auto& [w, job] : sharers) *w = *jobs[job].target;
  return buffers;
}

}  // namespace bottega::backend::cpu
