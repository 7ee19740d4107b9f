"""The subcommands of `sftbench` beside run/plan/validate (build, leaderboard, compare, metrics, verify), and how the command line reports errors."""
