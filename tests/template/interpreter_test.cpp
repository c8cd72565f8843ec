// The interpreter's features and error messages, each checked against what jinja2 renders.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "template/template.h"

namespace bottega::jinja {
namespace {

using nlohmann::json;

std::string render(const std::string& source, const json& context = json::object()) {
  return Template(source).render(context, RenderOptions{1735787045});
}

std::string render_ordered(const std::string& source, const nlohmann::ordered_json& context) {
  return Template(source).render(context, RenderOptions{1735787045});
}

std::string error_of(const std::string& source, const json& context = json::object()) {
  try {
    render(source, context);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TemplateInterpreter, PrintsValuesAsPython) {
  EXPECT_EQ(render("{{ 1.0 }} {{ 1e20 }} {{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 3 / 1 }} {{ 1e-5 }}"),
            "1.0 1e+20 0.30000000000000004 0.3333333333333333 3.0 1e-05");
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }}"), "3 -4 2 1024");
  EXPECT_EQ(render("{{ [1, 'a', none, true, {'k': \"it's\"}] }}"),
            "[1, 'a', None, True, {'k': \"it's\"}]");
  EXPECT_EQ(render("{{ x }}|{{ none }}|{{ false }}", {{"x", nullptr}}), "None|None|False");
  EXPECT_EQ(render("{{ u }}|{{ 'x' ~ 1 ~ none ~ u }}"), "|x1None");
}

TEST(TemplateInterpreter, ToJsonMatchesHuggingFace) {
  const nlohmann::ordered_json context = {
      {"v", nlohmann::ordered_json::parse(R"({"b": [1, 2.5, "é\n\"q\""], "a": null, "t": true})")}};
  EXPECT_EQ(render_ordered("{{ v | tojson }}", context),
            "{\"b\": [1, 2.5, \"é\\n\\\"q\\\"\"], \"a\": null, \"t\": true}");
  EXPECT_EQ(render_ordered("{{ v.b | tojson(indent=2) }}", context),
            "[\n  1,\n  2.5,\n  \"é\\n\\\"q\\\"\"\n]");
  EXPECT_EQ(render("{{ {} | tojson }}{{ [] | tojson(indent=4) }}"), "{}[]");
}

TEST(TemplateInterpreter, WhitespaceControlAsHuggingFace) {
  // trim_blocks removes the newline after a tag; lstrip_blocks the indentation before it.
  EXPECT_EQ(render("a\n  {% if true %}\n  b\n  {% endif %}\nc\n"), "a\n  b\nc");
  EXPECT_EQ(render("a  {{- ' b ' -}}  c"), "a b c");
  EXPECT_EQ(render("x {#- note -#} y"), "xy");
  EXPECT_EQ(render("  {%+ if true %}z{% endif %}\n.\n"), "  z.");
}

TEST(TemplateInterpreter, LoopsScopesAndControls) {
  EXPECT_EQ(render("{% for x in [3, 4, 5] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}"),
            "103TrueFalse3;212FalseFalse3;321FalseTrue3;");
  EXPECT_EQ(
      render("{% for x in 'abc' %}{{ loop.previtem }}{{ x }}{{ loop.nextitem }},{% endfor %}"),
      "ab,abc,bc,");
  EXPECT_EQ(render("{% for x in range(10) if x is odd %}{% if x > 6 %}{% break %}{% endif %}"
                   "{% if x == 3 %}{% continue %}{% endif %}{{ x }}{% endfor %}"),
            "15");
  EXPECT_EQ(render("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render_ordered("{% for k, v in d.items() %}{{ k }}={{ v }} {% endfor %}",
                           nlohmann::ordered_json{
                               {"d", nlohmann::ordered_json::parse(R"({"z": 1, "a": 2})")}}),
            "z=1 a=2 ");
  // A set inside a loop does not leak out; a namespace carries state across iterations.
  EXPECT_EQ(
      render("{% set x = 0 %}{% for i in range(3) %}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}"),
      "1110");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
                   "{% endfor %}{{ ns.n }} {{ ns }}"),
            "3 <Namespace {'n': 3}>");
  EXPECT_EQ(render("{% for x in ['a', 'b', 'c'] %}{{ loop.cycle('o', 'e') }}{% endfor %}"), "oeo");
}

TEST(TemplateInterpreter, MacrosSetBlocksAndFilterBlocks) {
  EXPECT_EQ(render("{% macro f(a, b=2) %}{{ a }}-{{ b }}{% endmacro %}{{ f(1) }} {{ f(1, b=3) }} "
                   "{{ f(b=5, a=0) }}"),
            "1-2 1-3 0-5");
  EXPECT_EQ(render("{% set s %}  Hi {{ 'there' }}{% endset %}[{{ s | trim }}]"), "[Hi there]");
  EXPECT_EQ(render("{% filter upper %}abc{{ 'd' }}{% endfilter %}"), "ABCD");
}

TEST(TemplateInterpreter, FiltersTestsAndMethods) {
  EXPECT_EQ(
      render("{{ '  a b  ' | trim }}|{{ 'héllo' | length }}|{{ 'héllo'[1:3] }}|{{ 'abc'[::-1] }}"),
      "a b|5|él|cba");
  EXPECT_EQ(render("{{ ['b', 'a', 'B'] | unique | list }} {{ [3, 1, 2] | sort }} {{ 'Hi you' | "
                   "wordcount }}"),
            "['b', 'a'] [1, 2, 3] 2");
  EXPECT_EQ(
      render("{{ {'b': 1, 'a': 2} | dictsort }} {{ 2.5 | round }} {{ 3 | round }} {{ -3 | abs }}"),
      "[('a', 2), ('b', 1)] 2.0 3 3");
  const json people = {{"p", json::parse(R"([{"n": "x", "ok": true}, {"n": "y", "ok": false}])")}};
  EXPECT_EQ(render("{{ p | selectattr('ok') | map(attribute='n') | join(',') }}"
                   "{{ p | rejectattr('ok') | map(attribute='n') | first }}"
                   "{{ p | map(attribute='n') | map('upper') | list }}",
                   people),
            "xy['X', 'Y']");
  EXPECT_EQ(render("{{ 'a\nb' | indent(2) }}|{{ 'a\n\nb' | indent(2, true) }}"),
            "a\n  b|  a\n\n  b");
  EXPECT_EQ(render("{{ u | default('d') }}{{ '' | d('e', true) }}{{ 'x' | default('f') }}"), "dex");
  EXPECT_EQ(render("{{ '3.7' | float + 1 }} {{ '42' | int }} {{ 3.9 | int }} {{ 'x' | int }} {{ 7 "
                   "| string }}"),
            "4.7 42 3 0 7");
  EXPECT_EQ(
      render("{{ '<a & \"b\">' | e }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}"),
      "&lt;a &amp; &#34;b&#34;&gt;|Hello World|Hello");
  EXPECT_EQ(render("{{ 'a b  c'.split() }} {{ 'a,b'.split(',') }} {{ '  x '.strip() }} "
                   "{{ 'xxhixx'.strip('x') }} {{ 'abc'.startswith(('z', 'a')) }} {{ "
                   "'abc'.endswith('bc') }}"),
            "['a', 'b', 'c'] ['a', 'b'] x hi True True");
  EXPECT_EQ(
      render("{{ d.get('a') }} {{ d.get('z', 0) }} {{ d.keys() | list }} {{ d.values() | list }}",
             {{"d", {{"a", 1}}}}),
      "1 0 ['a'] [1]");
  EXPECT_EQ(
      render("{{ 1 is odd }}{{ 4 is divisibleby 2 }}{{ 'a' is string }}{{ 1.5 is float }}"
             "{{ {} is mapping }}{{ [] is iterable }}{{ none is none }}{{ u is defined }}"
             "{{ 2 is in [1, 2] }}{{ 'b' not in 'abc' }}{{ true is boolean }}{{ 1 is number }}"),
      "TrueTrueTrueTrueTrueTrueTrueFalseTrueFalseTrueTrue");
  EXPECT_EQ(render("{{ 'y' if u else 'n' }}{{ 'z' if true }}{{ [1, 2, 3][-1] }}{{ (1, 2)[0] }}"),
            "nz31");
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}"), "02 Jan 2025");
}

TEST(TemplateInterpreter, UndefinedBehavesLikeJinja2) {
  EXPECT_EQ(render("{% for x in u %}a{% endfor %}|{{ u | length }}|{{ 'a' in u }}|{{ u | list }}"),
            "|0|False|[]");
  EXPECT_EQ(error_of("{{ u.x }}"), "template line 1: 'u' is undefined");
  EXPECT_EQ(error_of("\n{{ d.x.y }}", {{"d", json::object()}}),
            "template line 2: 'dict object' has no attribute 'x'");
  EXPECT_EQ(render("{{ d.x }}", {{"d", nullptr}}), "");
  EXPECT_EQ(error_of("{{ u + 1 }}"), "template line 1: 'u' is undefined");
  EXPECT_EQ(error_of("{{ u() }}"), "template line 1: 'u' is undefined");
  EXPECT_EQ(error_of("{{ 'abc'.foo() }}"), "template line 1: 'str object' has no attribute 'foo'");
  EXPECT_EQ(error_of("{% set l = [] %}{{ l.append(1) }}"),
            "template line 1: access to attribute 'append' of 'list' object is unsafe.");
}

TEST(TemplateInterpreter, ErrorsNameTheProblemAndLine) {
  EXPECT_EQ(error_of("a\nb\n{{ x | frobnicate }}"), "template line 3: unknown filter 'frobnicate'");
  EXPECT_EQ(error_of("{% if x is shiny %}{% endif %}"), "template line 1: unknown test 'shiny'");
  EXPECT_EQ(error_of("\n{% include 'x' %}"), "template line 2: unknown tag 'include'");
  EXPECT_EQ(error_of("{% if true %}"), "template line 1: missing 'endif' tag");
  EXPECT_EQ(error_of("{{ 1 + }}"), "template line 1: unexpected '}}'");
  EXPECT_EQ(error_of("{{ 'abc"), "template line 1: unterminated string literal");
  EXPECT_EQ(error_of("x\n{{ raise_exception('Conversation roles must alternate') }}"),
            "template line 2: Conversation roles must alternate");
  EXPECT_EQ(error_of("{% break %}"), "template line 1: 'break' outside a loop");
}

TEST(TemplateInterpreter, BoundsRecursionAndWork) {
  EXPECT_NE(
      error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("nested deeper"),
      std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}")
                .find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}")
                .find("nested too deeply"),
            std::string::npos);
  std::string nested_ifs;
  for (int i = 0; i < 5000; ++i) nested_ifs += "{% if true %}";
  EXPECT_NE(error_of(nested_ifs).find("nested too deeply"), std::string::npos);
  // Python's unbounded ints become errors here, never wrapped (undefined) arithmetic.
  EXPECT_NE(error_of("{{ 9223372036854775807 + 1 }}").find("integer overflow"), std::string::npos);
  EXPECT_NE(error_of("{{ 3 ** 99 }}").find("integer overflow"), std::string::npos);
  EXPECT_NE(error_of("{{ 'ab' * 9223372036854775807 }}").find("too large"), std::string::npos);
  EXPECT_EQ(render("{{ [1, 2, 3][::9223372036854775807] }} {{ 1e999 }}"), "[1] inf");
  EXPECT_EQ(error_of("{{ '\\xZZ' }}"), "template line 1: bad escape in string literal");
  RenderOptions few_steps;
  few_steps.max_steps = 10000;
  try {
    Template("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
        .render(json::object(), few_steps);
    ADD_FAILURE() << "an endless-looking loop rendered";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too much work"), std::string::npos) << e.what();
  }
  EXPECT_NE(error_of("{{ range(10000000000) }}").find("limited"), std::string::npos);
}

}  // namespace
}  // namespace bottega::jinja
