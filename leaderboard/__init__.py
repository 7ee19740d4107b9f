"""Results -> statistics -> tables, plots, HTML. No model code: numbers in, text out (see leaderboard/README.md).

    from sftbench.leaderboard.results import load_results        # a suite's results table, from a run dir or leaderboard.json
    from sftbench.leaderboard.stats import Settings, compute      # CIs, paired comparisons, Holm, verdicts
    from sftbench.leaderboard.report import render, write_reports # md, csv, json, latex, html (+ SVG plots
"""
