#include "ralm/core/sweep/report_charts.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "ralm/core/sweep/results_table.hpp"
#include "ralm/error.hpp"

extern char** environ;

namespace ralm::core {

namespace fs = std::filesystem;

namespace {

// A folder of its own for the data, scripts and gnuplot's log; removed after.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "ralm-report-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw Error("report: cannot make a temporary folder in " + pattern);
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void run_gnuplot(const fs::path& script, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::string program = "gnuplot", argument = script.string();
  char* argv[] = {program.data(), argument.data(), nullptr};
  pid_t pid = 0;
  const int failed = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (failed) {
    throw Error(
        "report: cannot run gnuplot, which draws the charts; install it (Debian: apt-get install "
        "gnuplot-nox)");
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string why = read_file(log);
    while (!why.empty() && why.back() == '\n')
      why.pop_back();
    const auto last = why.rfind('\n');
    throw Error("report: gnuplot failed on " + script.string() + ": " +
                (last == std::string::npos ? why : why.substr(last + 1)));
  }
}

// gnuplot's SVG file from its <svg> on: the XML prolog may not stand inside HTML.
std::string inline_svg(const fs::path& file) {
  const std::string svg = read_file(file);
  const auto start = svg.find("<svg");
  if (start == std::string::npos) throw Error("report: gnuplot wrote no <svg> to " + file.string());
  return svg.substr(start);
}

// A gnuplot single-quoted string: a quote inside is doubled.
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (const char c : text)
    out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string number(double v) {
  return std::isfinite(v) ? fixed_digits(v, 6) : "NaN";
}

// The labels of the rows as gnuplot reads them: tab-separated fields, so a
// label may hold spaces, and no tabs.
std::string label_field(std::string label) {
  for (char& c : label)
    if (c == '\t' || c == '\n') c = ' ';
  return label;
}

// Draws `plot` (gnuplot commands after the common settings) with `data` as
// DATA.tsv, to SVG and PNG.
Chart draw(const ScratchDir& scratch, const std::string& name, const std::string& title,
           const std::string& caption, const std::string& data, const std::string& plot, std::size_t bars,
           const fs::path& png_stem) {
  const fs::path data_file = scratch.path() / (name + ".tsv");
  std::ofstream(data_file) << data;
  const int width = static_cast<int>(std::max<std::size_t>(640, 160 + 70 * bars));
  const std::string common =
      "set datafile separator '\\t'\nset datafile missing 'NaN'\nset termoption noenhanced\n"
      "set key outside right top\nset grid ytics\nset xtics rotate by -30 nomirror\nset border 3\n"
      "set ytics nomirror\nset bmargin 8\nset title " +
      quoted(title) + "\nDATA=" + quoted(data_file.string()) + "\n";
  Chart chart{name, title, caption, "", fs::path(png_stem.string() + "-" + name + ".png")};
  const fs::path svg_file = scratch.path() / (name + ".svg");
  const fs::path png_partial = fs::path(chart.png.string() + ".partial");
  for (const bool png : {false, true}) {
    const fs::path script = scratch.path() / (name + (png ? "-png.gp" : "-svg.gp"));
    std::ofstream(script) << (png ? "set terminal pngcairo size " + std::to_string(width) +
                                        ",480 font 'sans,10'\n"
                                  : "set terminal svg size " + std::to_string(width) +
                                        ",480 font 'sans,11' background '#ffffff'\n")
                          << "set output " << quoted((png ? png_partial : svg_file).string()) << "\n"
                          << common << plot << "\n";
    run_gnuplot(script, scratch.path() / (name + ".log"));
  }
  fs::rename(png_partial, chart.png);
  chart.svg = inline_svg(svg_file);
  return chart;
}

}  // namespace

std::vector<Chart> draw_charts(const SweepResults& results, const fs::path& png_stem) {
  ScratchDir scratch;
  std::vector<Chart> charts;
  const bool any_bound_row = [&] {
    for (std::size_t i = 0; i < results.rows.size(); ++i)
      if (results.rows[i].speculative && results.rows[i].baseline != i && amdahl_bound(results, i))
        return true;
    return false;
  }();

  // Speed-up against each row's baseline.
  std::string data = "x\tlabel\tmedian\tmin\tmax\tbound\n";
  std::size_t bars = 0;
  for (std::size_t i = 0; i < results.rows.size(); ++i) {
    const auto s = speed_up(results, i);
    if (!s) continue;
    const auto bound = amdahl_bound(results, i);
    const ResultRow& row = results.rows[i];
    data += std::to_string(bars++) + "\t" +
            label_field(row.label + " / " + results.rows[row.baseline].label) + "\t" + number(s->median) +
            "\t" + number(s->min) + "\t" + number(s->max) + "\t" +
            number(row.speculative && bound ? *bound : NAN) + "\n";
  }
  if (bars > 0) {
    std::string plot =
        "set ylabel 'speed-up (x)'\nset yrange [0:*]\nset xrange [-0.6:" + std::to_string(bars) +
        "-0.4]\nset style fill solid 0.75 border -1\nset boxwidth 0.6\nset arrow from graph 0, first 1 to "
        "graph 1, "
        "first 1 nohead dt 2 lc rgb '#555555'\n"
        "plot DATA skip 1 using 1:3:xtic(2) with boxes lc rgb '#4c78a8' title 'median speed-up', "
        "DATA skip 1 using 1:3:4:5 with yerrorbars lc rgb '#222222' pt -1 title 'min-max over repeats'";
    if (any_bound_row)
      plot += ", DATA skip 1 using 1:6 with points pt 9 ps 1.6 lc rgb '#e45756' title 'Amdahl bound'";
    charts.push_back(draw(scratch, "speedup", "Speed-up against each row's baseline",
                          "Bars: the baseline's wall time over the row's, paired repeat by repeat, median; "
                          "whiskers: min-max over the repeats. Triangles: the baseline's Amdahl bound "
                          "total / (total - retrieval), the most that taking retrieval off the critical path "
                          "could give (speculative rows). The dashed line is 1x.",
                          data, plot, bars, png_stem));
  }

  // Latency by phase.
  const std::vector<std::string> phases = phase_figures();
  data = "x\tlabel";
  for (const std::string& p : phases)
    data += "\t" + p.substr(std::string("times.").size(), p.size() - std::string("times.").size() - 2);
  data += "\n";
  for (std::size_t i = 0; i < results.rows.size(); ++i) {
    data += std::to_string(i) + "\t" + label_field(results.rows[i].label);
    for (const std::string& p : phases)
      data += "\t" + number(figure_spread(results.rows[i], p).median);
    data += "\n";
  }
  charts.push_back(
      draw(scratch, "phases", "Latency by phase (median seconds)",
           "Each bar is a row's wall time, the median over its repeats of each phase stacked: "
           "retrieval, speculative cache, prefill, decode, verification, rollback and the rest.",
           data,
           "set ylabel 'seconds'\nset yrange [0:*]\nset style data histograms\nset style histogram "
           "rowstacked\nset style fill solid 0.85 border -1\nset boxwidth 0.6\n"
           "plot for [i=3:" +
               std::to_string(2 + phases.size()) + "] DATA using i:xtic(2) title columnheader(i)",
           results.rows.size(), png_stem));

  // Acceptance rates of the rows that speculated.
  data = "x\tlabel\tmedian\tmin\tmax\n";
  bars = 0;
  for (const ResultRow& row : results.rows) {
    if (figure_spread(row, figure::speculated).median <= 0) continue;
    const Spread a = figure_spread(row, figure::acceptance);
    data += std::to_string(bars++) + "\t" + label_field(row.label) + "\t" + number(100 * a.median) + "\t" +
            number(100 * a.min) + "\t" + number(100 * a.max) + "\n";
  }
  if (bars > 0) {
    charts.push_back(
        draw(scratch, "acceptance", "Speculation acceptance rate",
             "The share of speculated steps whose retrieval was right, median over the repeats; "
             "whiskers: min-max.",
             data,
             "set ylabel 'accepted (%)'\nset yrange [0:105]\nset xrange [-0.6:" + std::to_string(bars) +
                 "-0.4]\nset style fill solid 0.75 border -1\nset boxwidth 0.6\n"
                 "plot DATA skip 1 using 1:3:xtic(2) with boxes lc rgb '#54a24b' title 'median', "
                 "DATA skip 1 using 1:3:4:5 with yerrorbars lc rgb '#222222' pt -1 title 'min-max'",
             bars, png_stem));
  }
  return charts;
}

}  // namespace ralm::core
