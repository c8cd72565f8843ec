#include "server/stop_matcher.h"

#include <gtest/gtest.h>

namespace bottega::server {
namespace {

// Feeds the pieces and returns everything released, flushing at the end.
std::string run(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += m.push(p);
  return out + m.flush();
}

TEST(StopMatcher, CutsAtAStopSplitAcrossPieces) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.push("hello E"), "hello ");  // "E" might start the stop
  EXPECT_EQ(m.push("N"), "");
  EXPECT_EQ(m.push("D and more"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.push("ignored"), "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, ReleasesAFalseStartOnceItCannotMatch) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.push("EN"), "");
  EXPECT_EQ(m.push("X"), "ENX");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, TheEarliestOfSeveralStopsWins) {
  StopMatcher m({"world", "lo w"});
  EXPECT_EQ(run(m, {"hel", "lo world"}), "hel");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcher, WithoutStopsEverythingPassesAtOnce) {
  StopMatcher m({});
  EXPECT_EQ(m.push("abc"), "abc");
  StopMatcher empty_string({""});
  EXPECT_EQ(empty_string.push("abc"), "abc");
}

TEST(StopMatcher, HeldTextComesOutAtTheEnd) {
  StopMatcher m({"\n\n"});
  EXPECT_EQ(m.push("line\n"), "line");
  EXPECT_EQ(m.flush(), "\n");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, AStopAtTheVeryStartReleasesNothing) {
  StopMatcher m({"<|end|>"});
  EXPECT_EQ(run(m, {"<|", "end|>tail"}), "");
  EXPECT_TRUE(m.stopped());
}

}  // namespace
}  // namespace bottega::server
