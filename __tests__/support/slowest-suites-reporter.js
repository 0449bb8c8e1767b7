/**
 * Jest reporter that lists the slowest test files after a run of several files, so the next slow suite is
 * visible without digging through `--json` output. One short table on stderr; nothing for a single file.
 * Options: `{ count }`, how many files to list (default 5).
 */
class SlowestSuitesReporter {
  constructor(_globalConfig, options = {}) {
    this.count = options.count ?? 5;
  }

  onRunComplete(_contexts, results) {
    const suites = results.testResults
      .filter((r) => r.perfStats && r.perfStats.end > 0)
      .map((r) => ({
        file: r.testFilePath.slice(process.cwd().length + 1),
        seconds: (r.perfStats.end - r.perfStats.start) / 1000,
        tests: r.numPassingTests + r.numFailingTests + r.numPendingTests + r.numTodoTests,
      }))
      .sort((a, b) => b.seconds - a.seconds);
    if (suites.length < 2) return;
    const total = suites.reduce((sum, s) => sum + s.seconds, 0);
    const lines = suites
      .slice(0, this.count)
      .map((s) => `  ${s.seconds.toFixed(1).padStart(6)} s  ${String(s.tests).padStart(3)} tests  ${s.file}`);
    process.stderr.write(
      `Slowest test files (of ${suites.length}, ${total.toFixed(1)} s summed over workers):\n${lines.join('\n')}\n`,
    );
  }
}

module.exports = SlowestSuitesReporter;
