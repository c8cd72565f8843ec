// bottega pull / list / rm / show against a fake Hub on 127.0.0.1: the whole binary, real HTTP.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "store/fake_hub.h"
#include "store/sha256.h"
#include "testutil/testutil.h"

namespace bottega::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class PullTest : public ::testing::Test {
 protected:
  PullTest() : model_(read_file(shared_file("models/aidreams260K.gguf"))) {}

  // The store in a temporary home, the Hub on loopback, no token from the outer environment, and a
  // stall bound short enough that a hang shows up as a failure, not a stuck run.
  EnvVars env(const EnvVars& extra = {}) const {
    EnvVars vars{{"BOTTEGA_HOME", home_.path().string()},
                 {"HF_ENDPOINT", hub_.endpoint()},
                 {"HF_TOKEN", ""},
                 {"BOTTEGA_HTTP_STALL_SECONDS", "10"}};
    for (const auto& [name, value] : extra) {
      const auto same =
          std::find_if(vars.begin(), vars.end(), [&](const auto& v) { return v.first == name; });
      if (same != vars.end())
        same->second = value;
      else
        vars.push_back({name, value});
    }
    return vars;
  }
  CommandResult bottega(const std::vector<std::string>& args, const EnvVars& extra = {}) const {
    return run_bottega(args, env(extra));
  }
  fs::path blobs() const { return home_ / "blobs"; }
  fs::path manifests() const { return home_ / "manifests"; }
  size_t count_files(const fs::path& dir, const std::string& ending) const {
    size_t n = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      n += entry.path().string().ends_with(ending);
    return n;
  }
  json list_json() const {
    const auto r = bottega({"list", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }

  const std::string model_;
  TempDir home_;
  FakeHub hub_;
};

TEST_F(PullTest, CleanPullInstallsVerifiedBlobAndManifest) {
  const std::string sha = hub_.add("owner/tiny-GGUF", "tiny-Q8_0.gguf", model_);
  const auto r = bottega({"pull", "hf://owner/tiny-GGUF/tiny-Q8_0.gguf"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(blobs() / ("sha256-" + sha)), model_);
  EXPECT_EQ(count_files(blobs(), ".partial"), 0u);
  EXPECT_NE(r.err.find("100%"), std::string::npos)
      << "plain progress lines off a terminal: " << r.err;

  const json models = list_json();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["name"], "hf://owner/tiny-GGUF/tiny-Q8_0.gguf");
  EXPECT_EQ(models[0]["quant"], "Q8_0");
  EXPECT_EQ(models[0]["files"][0]["sha256"], sha);
  EXPECT_EQ(models[0]["files"][0]["verified_by"], "sha256");
  EXPECT_EQ(models[0]["size"], model_.size());

  const auto show = bottega({"show", "hf://owner/tiny-GGUF/tiny-Q8_0.gguf", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(json::parse(show.out)["architecture"], "llama");
  const auto run = bottega({"run", "-m", "hf://owner/tiny-GGUF/tiny-Q8_0.gguf", "-p", "The machine",
                            "-n", "4", "--temp", "0"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_FALSE(run.out.empty());
}

TEST_F(PullTest, RunPullsAReferenceOnFirstUseThenRunsFromTheStore) {
  hub_.add("owner/tiny-GGUF", "tiny-Q8_0.gguf", model_);
  const std::vector<std::string> args = {
      "run", "owner/tiny-GGUF:Q8_0", "-p", "The machine", "-n", "12", "--temp", "0"};
  const auto first = bottega(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("pulling it from"), std::string::npos) << first.err;
  const auto local = run_bottega({"run", "-m", shared_file("models/aidreams260K.gguf").string(),
                                  "-p", "The machine", "-n", "12", "--temp", "0"});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(first.out, local.out);
  const json models = list_json();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["name"], "owner/tiny-GGUF:Q8_0");

  const size_t requests = hub_.requests().size();
  const auto second = bottega(args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, local.out);
  EXPECT_EQ(second.err.find("pulling"), std::string::npos) << second.err;
  EXPECT_EQ(hub_.requests().size(), requests) << "the second run must not touch the network";

  const auto missing = bottega({"run", "owner/absent-GGUF:Q8_0", "-p", "x"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("404"), std::string::npos) << missing.err;
  const auto no_model = bottega({"run", "-p", "x"});
  EXPECT_EQ(no_model.exit_code, 2) << no_model.err;
}

TEST_F(PullTest, QuantReferenceChoosesTheTaggedFile) {
  hub_.add("owner/m-GGUF", "m-Q4_K_S.gguf", "small");
  const std::string sha = hub_.add("owner/m-GGUF", "m-Q4_K_M.gguf", model_);
  hub_.add("owner/m-GGUF", "m-IQ4_K_M.gguf", "other");
  const auto r = bottega({"pull", "owner/m-GGUF:q4_k_m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pulled owner/m-GGUF:Q4_K_M"), std::string::npos) << r.out;
  const json models = list_json();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["files"][0]["path"], "m-Q4_K_M.gguf");
  EXPECT_EQ(models[0]["quant"], "Q4_K_M");
  EXPECT_TRUE(fs::exists(blobs() / ("sha256-" + sha)));

  const auto ambiguous = bottega({"pull", "owner/m-GGUF:Q4_K"});
  EXPECT_EQ(ambiguous.exit_code, 1);
  EXPECT_NE(ambiguous.err.find("ambiguous"), std::string::npos) << ambiguous.err;
  EXPECT_NE(ambiguous.err.find("m-Q4_K_S.gguf"), std::string::npos) << ambiguous.err;
  const auto none = bottega({"pull", "owner/m-GGUF:Q2_K"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no GGUF file"), std::string::npos) << none.err;
}

TEST_F(PullTest, SplitModelIsFetchedWhole) {
  const std::string first = hub_.add("owner/big-GGUF", "Q4_0/big-Q4_0-00001-of-00002.gguf", model_);
  const std::string second =
      hub_.add("owner/big-GGUF", "Q4_0/big-Q4_0-00002-of-00002.gguf", "the second part");
  const auto r = bottega({"pull", "owner/big-GGUF:Q4_0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json models = list_json();
  ASSERT_EQ(models.size(), 1u);
  ASSERT_EQ(models[0]["files"].size(), 2u);
  EXPECT_EQ(models[0]["files"][0]["sha256"], first);
  EXPECT_EQ(models[0]["files"][1]["sha256"], second);
  EXPECT_EQ(read_file(blobs() / ("sha256-" + second)), "the second part");
  EXPECT_EQ(bottega({"show", "owner/big-GGUF:Q4_0"}).exit_code, 0);
}

size_t count_requests(const std::vector<FakeHub::Request>& requests, const std::string& path) {
  return static_cast<size_t>(std::count_if(requests.begin(), requests.end(),
                                           [&](const auto& r) { return r.path == path; }));
}

TEST_F(PullTest, PaginatedListingIsFollowedToTheChosenFile) {
  hub_.paginate(2);  // README.md and m-Q4_0 on page 1, m-Q5_K_M and m-Q8_0 on page 2
  hub_.add("owner/m-GGUF", "m-Q4_0.gguf", "q4");
  hub_.add("owner/m-GGUF", "m-Q5_K_M.gguf", "q5");
  const std::string sha = hub_.add("owner/m-GGUF", "m-Q8_0.gguf", model_);
  const auto r = bottega({"pull", "owner/m-GGUF:Q8_0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(blobs() / ("sha256-" + sha)), model_);
  EXPECT_EQ(count_requests(hub_.requests(), "/api/models/owner/m-GGUF/tree/main"), 2u);
  EXPECT_EQ(bottega({"show", "owner/m-GGUF:Q8_0"}).exit_code, 0);

  // Every page counts when a reference is checked for ambiguity.
  hub_.add("owner/m-GGUF", "m-Q4_0-alt.gguf", "q4 again");  // page 3
  const auto ambiguous = bottega({"pull", "owner/m-GGUF:Q4_0"});
  EXPECT_EQ(ambiguous.exit_code, 1);
  EXPECT_NE(ambiguous.err.find("m-Q4_0-alt.gguf"), std::string::npos) << ambiguous.err;
}

TEST_F(PullTest, HfTokenIsNotSentToAnotherServersPage) {
  FakeHub elsewhere;
  hub_.paginate(2);
  hub_.link_pages_to(elsewhere.endpoint());
  elsewhere.paginate(2);
  for (FakeHub* hub : {&hub_, &elsewhere}) {
    hub->add("owner/m-GGUF", "m-Q4_0.gguf", "q4");
    hub->add("owner/m-GGUF", "m-Q8_0.gguf", model_);
  }
  const auto r = bottega({"pull", "owner/m-GGUF:Q8_0"}, {{"HF_TOKEN", "hf_secret"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto listing = [](const FakeHub& hub) {
    std::vector<FakeHub::Request> pages;
    for (const auto& request : hub.requests())
      if (request.path == "/api/models/owner/m-GGUF/tree/main") pages.push_back(request);
    return pages;
  };
  ASSERT_EQ(listing(hub_).size(), 1u);
  EXPECT_EQ(listing(hub_)[0].authorization, "Bearer hf_secret");
  ASSERT_EQ(listing(elsewhere).size(), 1u) << "page 2 comes from the other server";
  EXPECT_EQ(listing(elsewhere)[0].authorization, "");
}

TEST_F(PullTest, ListingThatLinksToItselfIsAClearError) {
  hub_.paginate(2);
  hub_.link_each_page_to_itself();
  hub_.add("owner/m-GGUF", "m-Q4_0.gguf", "q4");
  hub_.add("owner/m-GGUF", "m-Q8_0.gguf", model_);
  const auto start = std::chrono::steady_clock::now();
  const auto r = bottega({"pull", "owner/m-GGUF:Q4_0"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("links back to a page it already gave"), std::string::npos) << r.err;
  EXPECT_EQ(count_requests(hub_.requests(), "/api/models/owner/m-GGUF/tree/main"), 1u);
  EXPECT_EQ(count_files(manifests(), ".json"), 0u);
}

TEST_F(PullTest, MalformedLinkHeaderIsAClearError) {
  hub_.paginate(1);
  hub_.send_malformed_links();
  hub_.add("owner/m-GGUF", "m-Q8_0.gguf", model_);
  const auto r = bottega({"pull", "owner/m-GGUF:Q8_0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("malformed Link header"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("owner/m-GGUF"), std::string::npos) << r.err;
}

TEST_F(PullTest, EndlessListingStopsAtThePageBound) {
  hub_.paginate(1);
  for (int i = 0; i < 55; ++i) hub_.add("owner/m-GGUF", std::to_string(i) + ".txt", "x");
  const auto r = bottega({"pull", "owner/m-GGUF:Q8_0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("goes on past 50 pages"), std::string::npos) << r.err;
  EXPECT_EQ(count_requests(hub_.requests(), "/api/models/owner/m-GGUF/tree/main"), 50u);
}

TEST_F(PullTest, FileKeptInGitIsCheckedBySizeAndSaysSo) {
  hub_.add_in_git("owner/small-GGUF", "small-Q8_0.gguf", model_);
  const auto r = bottega({"pull", "owner/small-GGUF:Q8_0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("not stored with Git LFS"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("checked by size only"), std::string::npos) << r.err;
  const std::string digest = store::sha256_hex(model_);
  EXPECT_EQ(read_file(blobs() / ("sha256-" + digest)), model_);
  EXPECT_EQ(count_files(blobs(), ".partial"), 0u);

  const json models = list_json();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["files"][0]["verified_by"], "size");
  EXPECT_EQ(models[0]["files"][0]["sha256"], digest) << "the digest of the bytes received";
  const auto run = bottega(
      {"run", "-m", "owner/small-GGUF:Q8_0", "-p", "The machine", "-n", "4", "--temp", "0"});
  EXPECT_EQ(run.exit_code, 0) << run.err;

  // A second pull downloads again (there is no digest to look the blob up by) and keeps one blob.
  ASSERT_EQ(bottega({"pull", "owner/small-GGUF:Q8_0"}).exit_code, 0);
  size_t blob_count = 0;
  for (const auto& entry : fs::directory_iterator(blobs()))
    blob_count += entry.path().filename().string().starts_with("sha256-") &&
                  entry.path().extension() != ".lock";
  EXPECT_EQ(blob_count, 1u);
}

TEST_F(PullTest, InterruptedPullResumesWithRange) {
  const std::string sha = hub_.add("owner/tiny-GGUF", "tiny-Q8_0.gguf", model_);
  const size_t half = model_.size() / 2;
  hub_.cut_first_download_after(half);
  const auto first = bottega({"pull", "owner/tiny-GGUF:Q8_0"});
  ASSERT_EQ(first.exit_code, 1) << first.err;
  EXPECT_NE(first.err.find("run pull again"), std::string::npos) << first.err;
  EXPECT_EQ(fs::file_size(blobs() / ("sha256-" + sha + ".partial")), half);
  EXPECT_EQ(count_files(manifests(), ".json"), 0u);

  const auto second = bottega({"pull", "owner/tiny-GGUF:Q8_0"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(read_file(blobs() / ("sha256-" + sha)), model_);
  bool resumed = false;
  for (const auto& request : hub_.requests())
    resumed |= request.range == "bytes=" + std::to_string(half) + "-";
  EXPECT_TRUE(resumed) << "no request asked for bytes=" << half << "-";
}

TEST_F(PullTest, CorruptedDownloadInstallsNothing) {
  hub_.add("owner/tiny-GGUF", "tiny-Q8_0.gguf", model_);
  hub_.corrupt_downloads();
  const auto r = bottega({"pull", "owner/tiny-GGUF:Q8_0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("run pull again"), std::string::npos) << r.err;
  EXPECT_EQ(count_files(manifests(), ".json"), 0u);
  EXPECT_EQ(count_files(blobs(), ".partial"), 0u);
  for (const auto& entry : fs::directory_iterator(blobs())) {
    EXPECT_TRUE(entry.path().string().ends_with(".lock")) << "left behind: " << entry.path();
  }
}

TEST_F(PullTest, UnauthorizedMentionsHfToken) {
  hub_.add("owner/gated-GGUF", "g-Q4_0.gguf", model_);
  hub_.fail_with(401);
  const auto r = bottega({"pull", "owner/gated-GGUF:Q4_0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("HF_TOKEN"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("gated"), std::string::npos) << r.err;
}

TEST_F(PullTest, MissingRepoOrFileIsNotFound) {
  hub_.add("owner/tiny-GGUF", "tiny-Q8_0.gguf", model_);
  const auto repo = bottega({"pull", "owner/missing-GGUF:Q4_0"});
  EXPECT_EQ(repo.exit_code, 1);
  EXPECT_NE(repo.err.find("not found: repo or file"), std::string::npos) << repo.err;
  const auto file = bottega({"pull", "hf://owner/tiny-GGUF/nope.gguf"});
  EXPECT_EQ(file.exit_code, 1);
  EXPECT_NE(file.err.find("not found: repo or file"), std::string::npos) << file.err;
}

TEST_F(PullTest, StalledServerFailsWithinTheBound) {
  hub_.add("owner/tiny-GGUF", "tiny-Q8_0.gguf", model_);
  hub_.stall_downloads();
  const auto start = std::chrono::steady_clock::now();
  const auto r = bottega({"pull", "owner/tiny-GGUF:Q8_0"}, {{"BOTTEGA_HTTP_STALL_SECONDS", "2"}});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("stalled"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(hub_.endpoint()), std::string::npos) << r.err;
  EXPECT_LT(seconds, 10.0);
}

TEST_F(PullTest, ListRmShowRoundTrip) {
  const std::string sha = hub_.add("owner/tiny-GGUF", "tiny-Q8_0.gguf", model_);
  ASSERT_EQ(bottega({"pull", "owner/tiny-GGUF:Q8_0"}).exit_code, 0);
  ASSERT_EQ(bottega({"pull", "hf://owner/tiny-GGUF/tiny-Q8_0.gguf"}).exit_code,
            0);  // the same blob
  const auto table = bottega({"list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("NAME"), std::string::npos);
  EXPECT_NE(table.out.find("owner/tiny-GGUF:Q8_0"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("hf://owner/tiny-GGUF/tiny-Q8_0.gguf"), std::string::npos) << table.out;
  EXPECT_EQ(list_json().size(), 2u);

  ASSERT_EQ(bottega({"rm", "owner/tiny-GGUF:q8_0"}).exit_code, 0);
  EXPECT_TRUE(fs::exists(blobs() / ("sha256-" + sha))) << "still used by the other name";
  EXPECT_EQ(bottega({"show", "hf://owner/tiny-GGUF/tiny-Q8_0.gguf"}).exit_code, 0);
  const auto gone = bottega({"show", "owner/tiny-GGUF:Q8_0"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("no such file or model"), std::string::npos) << gone.err;

  ASSERT_EQ(bottega({"rm", "hf://owner/tiny-GGUF/tiny-Q8_0.gguf"}).exit_code, 0);
  EXPECT_FALSE(fs::exists(blobs() / ("sha256-" + sha)));
  EXPECT_EQ(list_json().size(), 0u);
  const auto unknown = bottega({"rm", "owner/tiny-GGUF:Q8_0"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no model named"), std::string::npos) << unknown.err;
}

TEST_F(PullTest, NamesThatEscapeTheStoreAreRejected) {
  for (const std::string bad :
       {"../evil:Q4_0", "hf://owner/repo/../../evil.gguf", "owner/..:Q4_0"}) {
    const auto r = bottega({"pull", bad});
    EXPECT_EQ(r.exit_code, 1) << bad;
    EXPECT_NE(r.err.find("invalid model"), std::string::npos) << bad << ": " << r.err;
  }
  const auto rm = bottega({"rm", "../../etc/passwd"});
  EXPECT_EQ(rm.exit_code, 1);
  EXPECT_NE(rm.err.find("invalid model name"), std::string::npos) << rm.err;
  EXPECT_TRUE(hub_.requests().empty()) << "rejected before any request";
  EXPECT_FALSE(fs::exists(manifests()));
}

TEST_F(PullTest, HfTokenIsSentAsBearer) {
  hub_.add("owner/tiny-GGUF", "tiny-Q8_0.gguf", model_);
  ASSERT_EQ(bottega({"pull", "owner/tiny-GGUF:Q8_0"}, {{"HF_TOKEN", "hf_secret"}}).exit_code, 0);
  const auto requests = hub_.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.front().authorization, "Bearer hf_secret");
  const auto anonymous = bottega({"pull", "owner/tiny-GGUF:Q8_0"});
  ASSERT_EQ(anonymous.exit_code, 0) << anonymous.err;
  EXPECT_EQ(hub_.requests().back().authorization, "");
}

}  // namespace
}  // namespace bottega::testing
