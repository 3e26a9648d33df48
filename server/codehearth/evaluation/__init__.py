"""`codehearth eval`: how good each model's completions are on your own code.

Holes are punched in real source files (sources, holes), completed through the same
server code path an editor's request takes (runner), scored against what was there
(scoring, and testbed for the tests of a Python repository), and reported as a table,
JSON and a plot (report, plot). docs/quality.md describes the method.

`codehearth eval --review` is the seeded-bug review benchmark (review*.py).
"""
