// README code comes from demos that compile: every code block in README.md preceded by
// `<!-- quoted from PATH -->` must appear in PATH, line by line in order (leading and
// trailing spaces ignored, blank lines skipped); a line `...` stands for lines left out.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Non-blank trimmed lines.
std::vector<std::string> code_lines(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const std::string& l : lines) {
    std::string t = trim(l);
    if (!t.empty()) out.push_back(std::move(t));
  }
  return out;
}

// Finds `block` (segments separated by "...") in `file` in order; returns "" or a complaint.
std::string find_quote(const std::vector<std::string>& block, const std::vector<std::string>& file) {
  std::size_t from = 0;
  std::vector<std::string> segment;
  auto place = [&]() -> std::string {
    if (segment.empty()) return {};
    for (std::size_t at = from; at + segment.size() <= file.size(); ++at) {
      bool match = true;
      for (std::size_t i = 0; i < segment.size() && match; ++i) match = file[at + i] == segment[i];
      if (match) {
        from = at + segment.size();
        segment.clear();
        return {};
      }
    }
    return "not found (in order): '" + segment.front() + "' ...";
  };
  for (const std::string& l : block) {
    if (l == "...") {
      if (std::string e = place(); !e.empty()) return e;
      continue;
    }
    segment.push_back(l);
  }
  return place();
}

TEST(Readme, QuotedCodeAppearsInItsDemo) {
  const std::string root = RINGACTOR_SOURCE_DIR;
  const std::vector<std::string> readme = lines_of(root + "/README.md");
  ASSERT_FALSE(readme.empty());
  const std::string marker = "<!-- quoted from ";
  int quotes = 0;
  for (std::size_t i = 0; i < readme.size(); ++i) {
    if (readme[i].rfind(marker, 0) != 0) continue;
    const std::string path = readme[i].substr(marker.size(), readme[i].find(" -->") - marker.size());
    ASSERT_LT(i + 1, readme.size());
    ASSERT_EQ(readme[i + 1].rfind("```", 0), 0u) << "README.md:" << i + 2 << ": a code block must follow the marker";
    std::vector<std::string> block;
    std::size_t j = i + 2;
    for (; j < readme.size() && readme[j].rfind("```", 0) != 0; ++j) block.push_back(readme[j]);
    const std::vector<std::string> file = lines_of(root + "/" + path);
    ASSERT_FALSE(file.empty()) << "README.md:" << i + 1 << ": cannot read " << path;
    EXPECT_EQ(find_quote(code_lines(block), code_lines(file)), "") << "README.md:" << i + 1 << " quoting " << path;
    ++quotes;
    i = j;
  }
  EXPECT_GE(quotes, 3) << "the README's HTTP and offload examples are quoted from demos";
}

}  // namespace
