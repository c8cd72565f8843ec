// Python's str methods as chat templates use them (ASCII case mapping; byte-wise otherwise).
#include "template/python_str.h"

#include <cctype>

#include "core/error.h"

namespace bottega::jinja {
const char* const kPythonSpace = " \t\n\r\v\f\x1c\x1d\x1e\x1f";

std::string ascii_upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string ascii_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
namespace {

bool is_alpha(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || (c & 0x80);
}

}  // namespace

std::string title_case(const std::string& s) {
  std::string out = s;
  bool previous_cased = false;
  for (char& c : out) {
    const bool letter = is_alpha(c);
    if (letter && !(c & 0x80)) {
      c = static_cast<char>(previous_cased ? std::tolower(static_cast<unsigned char>(c))
                                           : std::toupper(static_cast<unsigned char>(c)));
    }
    previous_cased = letter;
  }
  return out;
}

std::string capitalize(const std::string& s) {
  std::string out = ascii_lower(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

std::string strip(const std::string& s, const Value* chars, bool left, bool right) {
  const std::string set = chars && chars->is_string() ? chars->text : kPythonSpace;
  size_t begin = 0;
  size_t end = s.size();
  if (left) {
    while (begin < end && set.find(s[begin]) != std::string::npos) ++begin;
  }
  if (right) {
    while (end > begin && set.find(s[end - 1]) != std::string::npos) --end;
  }
  return s.substr(begin, end - begin);
}

List split(const std::string& s, const Value* separator, int64_t max_split) {
  List out;
  if (!separator || separator->is_none()) {
    size_t i = 0;
    const std::string space = kPythonSpace;
    while (true) {
      while (i < s.size() && space.find(s[i]) != std::string::npos) ++i;
      if (i >= s.size()) break;
      if (max_split >= 0 && static_cast<int64_t>(out.size()) == max_split) {
        out.push_back(Value::from_string(strip(s.substr(i), nullptr, false, true)));
        break;
      }
      size_t end = i;
      while (end < s.size() && space.find(s[end]) == std::string::npos) ++end;
      out.push_back(Value::from_string(s.substr(i, end - i)));
      i = end;
    }
    return out;
  }
  if (!separator->is_string()) throw Error("split: the separator must be a string");
  const std::string& sep = separator->text;
  if (sep.empty()) throw Error("split: empty separator");
  size_t start = 0;
  while (true) {
    const size_t found = s.find(sep, start);
    if (found == std::string::npos ||
        (max_split >= 0 && static_cast<int64_t>(out.size()) == max_split)) {
      out.push_back(Value::from_string(s.substr(start)));
      return out;
    }
    out.push_back(Value::from_string(s.substr(start, found - start)));
    start = found + sep.size();
  }
}

std::string replace(const std::string& s, const std::string& from, const std::string& to,
                    int64_t count) {
  if (from.empty()) {
    std::string out;
    int64_t done = 0;
    for (const auto& ch : code_points(s)) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += ch;
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  std::string out;
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t found = s.find(from, start);
    if (found == std::string::npos) break;
    out.append(s, start, found - start);
    out += to;
    start = found + from.size();
    ++done;
  }
  return out + s.substr(start);
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  const auto one = [&](const std::string& a) {
    if (a.size() > s.size()) return false;
    return prefix ? s.compare(0, a.size(), a) == 0
                  : s.compare(s.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.is_string()) return one(affix.text);
  if (affix.is_list()) {
    for (const Value& item : *affix.list) {
      if (item.is_string() && one(item.text)) return true;
    }
    return false;
  }
  throw Error(str(prefix ? "startswith" : "endswith",
                  " first arg must be str or a tuple of str, not ", type_name(affix)));
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::string current;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || s[i] == '\r') {
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      lines.push_back(current);
      current.clear();
    } else {
      current += s[i];
    }
  }
  if (!current.empty()) lines.push_back(current);
  return lines;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace bottega::jinja
