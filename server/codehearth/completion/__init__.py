"""Inline completion: context → prompt → resident model → cleaned-up suggestion."""
