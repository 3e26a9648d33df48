"""Typing replay benchmark: the same as `codehearth bench`.

python benchmarks/typing_replay.py --keystrokes 200 --output results.json
"""

import sys

from codehearth.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
