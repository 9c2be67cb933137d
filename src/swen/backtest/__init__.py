"""Backtesting: replay a scenario through the real engine and policy gate against two baselines.

``swen backtest`` (cli/backtest_cmds.py) drives it; the parts are ``spec`` (scenario files, scaled
fleets), ``trace`` (the simulator's arrays, generated once), ``strategies`` (static, platform,
oracle), ``lifecycle`` (manual-review modes, tallies, journal), ``oracle`` (exact DP),
``accounting`` (cost and health of a path), ``runner``, ``report`` (JSON and rich), ``html`` (Plotly
report) and ``sweep``. See docs/BACKTESTING.md.
"""
