"""A demo platform for screenshots, browser tests and benchmarks: seeded by the real simulator, engine,
committer and pipeline, served by the real API and dashboard processes. Not part of the dashboard,
which reads only the API."""
