#include <gtest/gtest.h>

#include <memory>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"

namespace bottega::grammar {
namespace {

// Whether the whole text is a complete match of the grammar.
bool matches(const std::string& gbnf, const std::string& text) {
  Matcher m(std::make_shared<const Grammar>(parse_gbnf(gbnf)));
  return m.accept(text) && m.can_end();
}

// Whether the text is a prefix of some match.
bool prefix(const std::string& gbnf, const std::string& text) {
  Matcher m(std::make_shared<const Grammar>(parse_gbnf(gbnf)));
  return m.accept(text);
}

std::string error_of(const std::string& gbnf) {
  try {
    parse_gbnf(gbnf);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Gbnf, LiteralsAlternativesAndGroups) {
  const std::string g = R"(root ::= "yes" | "no" | ("may" "be")
)";
  EXPECT_TRUE(matches(g, "yes"));
  EXPECT_TRUE(matches(g, "no"));
  EXPECT_TRUE(matches(g, "maybe"));
  EXPECT_FALSE(matches(g, "ye"));
  EXPECT_TRUE(prefix(g, "ye"));
  EXPECT_FALSE(prefix(g, "yess"));
  EXPECT_FALSE(matches(g, ""));
}

TEST(Gbnf, RepetitionCounts) {
  const std::string g = "root ::= \"a\"{2,4} \"b\"* \"c\"+ \"d\"? [0-9]{3} \"e\"{2,}\n";
  EXPECT_TRUE(matches(g, "aac123ee"));
  EXPECT_TRUE(matches(g, "aaaabbbcccd999eeeee"));
  EXPECT_FALSE(matches(g, "ac123ee"));      // a{2,4}: one a is too few
  EXPECT_FALSE(matches(g, "aaaaac123ee"));  // five are too many
  EXPECT_FALSE(matches(g, "aab123ee"));     // c+ needs one c
  EXPECT_FALSE(matches(g, "aacdd123ee"));   // d? at most one
  EXPECT_FALSE(matches(g, "aac12ee"));      // exactly three digits
  EXPECT_FALSE(matches(g, "aac123e"));      // e{2,}
}

TEST(Gbnf, ClassesNegationAndEscapes) {
  const std::string g = R"(root ::= [a-cx] [^a-z\n] "\x41\u00e9\t" [\]\-]
)";
  EXPECT_TRUE(matches(g, "bZA\xC3\xA9\t]"));
  EXPECT_TRUE(matches(g, "x!A\xC3\xA9\t-"));
  EXPECT_FALSE(matches(g, "dZA\xC3\xA9\t]"));
  EXPECT_FALSE(matches(g, "bzA\xC3\xA9\t]"));
  EXPECT_FALSE(matches(g, "b\nA\xC3\xA9\t]"));
}

TEST(Gbnf, MultiByteClassesAcceptEveryByteSplit) {
  // A class of non-ASCII characters: the bytes of one character may arrive one at a time.
  const std::string g = "root ::= [^\\x00-\\x7F]+\n";
  Matcher m(std::make_shared<const Grammar>(parse_gbnf(g)));
  const std::string text = "\xE2\x82\xAC\xF0\x9F\x98\x81\xC3\xA9";  // € 😁 é
  for (char c : text) ASSERT_TRUE(m.accept(std::string(1, c)));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.allows("a"));
  EXPECT_FALSE(m.allows("\x80"));          // a lone continuation byte
  EXPECT_FALSE(m.allows("\xED\xA0\x80"));  // a surrogate
  EXPECT_FALSE(m.allows("\xC0\xAF"));      // an overlong form
  EXPECT_TRUE(m.allows("\xF4\x8F\xBF\xBF"));
  EXPECT_FALSE(m.allows("\xF4\x90\x80\x80"));  // above U+10FFFF
}

TEST(Gbnf, RulesCommentsAndNewlines) {
  const std::string g = R"(# a list of numbers
root ::= "[" ws (num (ws "," ws num)*)? ws "]"  # brackets
num  ::= "-"? [0-9]+
ws   ::= [ ]*
)";
  EXPECT_TRUE(matches(g, "[]"));
  EXPECT_TRUE(matches(g, "[ 1, -22 ,3 ]"));
  EXPECT_FALSE(matches(g, "[1,,2]"));
  EXPECT_FALSE(matches(g, "[1 2]"));
}

TEST(Gbnf, AnyCharacter) {
  EXPECT_TRUE(matches("root ::= \"<\" . \">\"\n", "<\xE4\xB8\xAD>"));
  EXPECT_FALSE(matches("root ::= \"<\" . \">\"\n", "<ab>"));
}

TEST(Gbnf, LongRepetitionsKeepTheStateSmall) {
  // Right recursion must not grow the stacks with the text: 100 000 characters stay cheap.
  Matcher m(std::make_shared<const Grammar>(parse_gbnf("root ::= [a-z]* \".\"\n")));
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(m.accept("x"));
  EXPECT_TRUE(m.accept("."));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.can_continue());
}

TEST(Gbnf, AmbiguityIsMerged) {
  // Both alternatives read the same text; the merged state stays one stack per position.
  Matcher m(std::make_shared<const Grammar>(parse_gbnf("root ::= (\"a\" | [a-z])* \"!\"\n")));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(m.accept("a"));
  EXPECT_TRUE(m.accept("!"));
  EXPECT_TRUE(m.can_end());
}

TEST(Gbnf, ErrorsNameTheProblemAndLine) {
  EXPECT_NE(error_of("root ::= item\n").find("'item' is used but never defined"),
            std::string::npos);
  EXPECT_NE(error_of("start ::= \"a\"\n").find("no rule named 'root'"), std::string::npos);
  EXPECT_NE(error_of("root ::= root \"a\" | \"b\"\n").find("'root' is left-recursive"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= x\nx ::= y? x \"a\"\ny ::= \"b\"\n").find("left-recursive"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"\n\nroot ::= \"b\"\n")
                .find("line 3: the rule 'root' is defined twice"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"\nx ::= \"abc\n").find("line 2: unterminated literal"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= [abc\n").find("unterminated character class"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\" )\n").find("unexpected ')'"), std::string::npos);
  EXPECT_NE(error_of("root ::= * \"a\"\n").find("must follow an item"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{3,1}\n").find("n below m"), std::string::npos);
  EXPECT_NE(error_of("root ::= [z-a]\n").find("ends below its start"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"\\q\"\n").find("unknown escape"), std::string::npos);
  EXPECT_NE(error_of("root := \"a\"\n").find("expected '::='"), std::string::npos);
}

TEST(Gbnf, ARefusedByteChangesNothing) {
  Matcher m(std::make_shared<const Grammar>(parse_gbnf("root ::= \"ab\" | \"ac\"\n")));
  EXPECT_FALSE(m.accept("ax"));
  EXPECT_TRUE(m.accept("a"));
  EXPECT_FALSE(m.accept("d"));
  EXPECT_TRUE(m.accept("c"));
  EXPECT_TRUE(m.can_end());
}

}  // namespace
}  // namespace bottega::grammar
