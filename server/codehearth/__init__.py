"""codehearth: a private, offline code assistant served over LSP."""

import os

# llama.cpp's CPU backend runs on OpenMP. With OpenMP's default active waiting,
# threads spin at every barrier; when anything else wants the same cores (the
# editor, a compiler, a second model) generation can collapse from 140 to under
# 1 token/s. Passive waiting costs little on an idle machine and keeps the
# server usable on a busy one. Must be set before libgomp loads; a user's own
# setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
