// Python str methods the filters and templates use: strip/split/replace/startswith with Python's
// argument rules and whitespace set, title/capitalize/upper/lower (ASCII), splitlines, and
// markupsafe's HTML escaping.
#pragma once

#include <string>
#include <vector>

#include "template/value.h"

namespace bottega::jinja {

extern const char* const kPythonSpace;  // what str.strip() and str.split() treat as whitespace

std::string ascii_upper(std::string s);
std::string ascii_lower(std::string s);
std::string title_case(const std::string& s);
std::string capitalize(const std::string& s);
// chars: none/absent strips whitespace, else the characters of the string.
std::string strip(const std::string& s, const Value* chars, bool left, bool right);
// separator none/absent: runs of whitespace, no empty pieces; max_split < 0: no limit.
List split(const std::string& s, const Value* separator, int64_t max_split);
std::string replace(const std::string& s, const std::string& from, const std::string& to,
                    int64_t count);
// affix: a string or a tuple/list of strings, as str.startswith/endswith take.
bool affix_match(const std::string& s, const Value& affix, bool prefix);
std::vector<std::string> split_lines(const std::string& s);
// markupsafe.escape: & < > " ' as HTML entities.
std::string html_escape(const std::string& text);

}  // namespace bottega::jinja
