-- End-to-end scenarios of the codehearth Neovim plugin, run by tests/e2e/test_nvim.py:
--   nvim --headless --clean --cmd "set rtp^=PLUGIN" -c "luafile driver.lua"
-- Environment: CODEHEARTH_SCENARIO (completion | partial_accept | explain | review | chat),
-- CODEHEARTH_CMD (JSON list: the server command), CODEHEARTH_INIT (JSON object),
-- CODEHEARTH_FILE (the file to edit), CODEHEARTH_RESULT (where the JSON result goes),
-- CODEHEARTH_TIMEOUT_MS.
--
-- The scenario runs in a coroutine resumed by timers, so Neovim's main loop keeps
-- running between steps: typed keys (nvim_input) go through insert mode as if a user
-- typed them, and LSP messages, autocmds and the native inline completion work as usual.

local env = vim.env
local result = { ok = false, log = {} }
local finished = false

local function log(msg)
  table.insert(result.log, msg)
end

local function finish()
  if finished then
    return
  end
  finished = true
  local f = assert(io.open(env.CODEHEARTH_RESULT, "w"))
  f:write(vim.json.encode(result))
  f:close()
  for _, c in ipairs(vim.lsp.get_clients()) do
    c:stop(true)
  end
  vim.cmd("qall!")
end

local co

local function sleep(ms)
  vim.defer_fn(function()
    local ok, err = coroutine.resume(co)
    if not ok then
      result.error = tostring(err)
      finish()
    end
  end, ms)
  coroutine.yield()
end

--- Poll `cond` every 50 ms until it returns a truthy value or `timeout_ms` passes.
local function wait_for(cond, timeout_ms)
  local deadline = vim.uv.now() + timeout_ms
  while true do
    local value = cond()
    if value then
      return value
    end
    if vim.uv.now() > deadline then
      return nil
    end
    sleep(50)
  end
end

local function lines()
  return vim.api.nvim_buf_get_lines(0, 0, -1, false)
end

local ch = require("codehearth")
local client = require("codehearth.client")
local inline = require("codehearth.inline")

local function start()
  vim.o.showmode = false -- headless: no "-- INSERT --" on stdout
  ch.setup({
    cmd = vim.json.decode(env.CODEHEARTH_CMD),
    init_options = vim.json.decode(env.CODEHEARTH_INIT or "{}"),
    sampling = {
      explain = { max_tokens = 48, temperature = 0 },
      chat = { max_tokens = 24, temperature = 0 },
      review = { max_tokens = 256, temperature = 0 },
    },
  })
  vim.cmd.edit(vim.fn.fnameescape(env.CODEHEARTH_FILE))
  local attached = wait_for(function()
    local c = client.get()
    return c and c.initialized and c.attached_buffers[vim.api.nvim_get_current_buf()]
  end, 20000)
  assert(attached, "the server did not attach")
  -- Wait until the model is loaded (status polled by the plugin, or pushed).
  local state = wait_for(function()
    local s = ch.status()
    local st = s and require("codehearth.status").get(s, "state")
    return (st == "ready" or st == "busy" or st == "error") and st
  end, 30000)
  result.state = state
  assert(state == "ready" or state == "busy", "model not ready: " .. tostring(state))
end

-- Insert mode at (row, col) of a line we write; wait for ghost text; accept with <Tab>.
local function completion()
  start()
  result.statusline = ch.statusline()
  result.status_pushed = require("codehearth.status").pushed -- informational
  result.inline_enabled = vim.lsp.inline_completion.is_enabled({ bufnr = 0 })
  result.accept_mapping = vim.fn.maparg("<Tab>", "i", false, true).desc
  -- Places where a prefix-only model usually has something to say; the first that
  -- shows a suggestion is used.
  local attempts = {
    -- `o` indents the new line (Python indent rules), so the typed text has none.
    { after = "    inventory.add(Item(\"apple\", 3))", typed = "inventory." },
    { after = "    def count(self) -> int:", typed = "return " },
    { after = "def main() -> None:", typed = "" },
  }
  for _, attempt in ipairs(attempts) do
    local row = vim.fn.index(lines(), attempt.after) + 1 -- 1-based row of `after`
    assert(row > 0, "line not found")
    vim.api.nvim_win_set_cursor(0, { row, 0 })
    vim.api.nvim_input("o" .. attempt.typed:gsub("<", "<lt>"))
    local shown = wait_for(function()
      return vim.api.nvim_get_mode().mode == "i" and inline.visible(0) and inline.shown_text(0)
    end, 10000)
    if shown then
      result.before = lines()
      result.cursor = vim.api.nvim_win_get_cursor(0)
      result.shown = shown
      vim.api.nvim_input("<Tab>")
      local changed = wait_for(function()
        return not vim.deep_equal(lines(), result.before)
      end, 5000)
      result.after = lines()
      result.accepted = changed ~= nil
      break
    end
    vim.api.nvim_input("<Esc>u")
    sleep(100)
  end
  -- The keys fall through when nothing is shown: dismiss any new suggestion first
  -- (it may come for the new cursor position), then <Tab> types a tab.
  if result.accepted then
    wait_for(function() return inline.visible(0) end, 3000)
    vim.api.nvim_input("<C-]>")
    sleep(300)
    result.visible_after_dismiss = inline.visible(0)
    result.before_tab = lines()
    result.cursor_before_tab = vim.api.nvim_win_get_cursor(0)
    vim.api.nvim_input("<Tab>")
    wait_for(function() return not vim.deep_equal(lines(), result.before_tab) end, 2000)
    result.after_tab = lines()
  end
  vim.api.nvim_input("<Esc>")
  sleep(50)
  result.ok = true
end

--- The server's counters (codehearth.status), synchronously.
local function server_counters()
  local c = client.get()
  local reply = c:request_sync("workspace/executeCommand", { command = "codehearth.status", arguments = {} }, 10000)
  return reply and reply.result and reply.result.counters or {}
end

local function wait_shown(not_this, timeout_ms)
  return wait_for(function()
    local text = inline.visible(0) and inline.shown_text(0)
    return text and text ~= "" and text ~= not_this and text
  end, timeout_ms or 10000)
end

-- Accept the next word, type along, accept the line: each time the ghost text that
-- follows should come from the server's cache (counters), not from a new generation.
local function partial_accept()
  start()
  result.word_mapping = vim.fn.maparg("<M-Right>", "i", false, true).desc
  result.line_mapping = vim.fn.maparg("<M-Down>", "i", false, true).desc
  local row = vim.fn.index(lines(), "        for name, quantity in data.items():") + 2
  assert(row > 1, "loop not found")
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  vim.api.nvim_input("A")
  local shown = wait_shown(nil, 20000)
  assert(shown, "no ghost text at the loop body")
  result.shown = shown
  result.before = lines()
  result.cursor = vim.api.nvim_win_get_cursor(0)
  result.counters_before = server_counters()
  vim.api.nvim_input("<M-Right>")
  wait_for(function() return not vim.deep_equal(lines(), result.before) end, 5000)
  result.after_word = lines()
  result.shown_after_word = wait_shown(shown)
  result.cursor_after_word = vim.api.nvim_win_get_cursor(0)
  local next_char = result.shown_after_word and result.shown_after_word:sub(1, 1)
  if next_char and next_char:match("%S") then
    result.typed = next_char
    vim.api.nvim_input(next_char)
    result.shown_after_typing = wait_shown(result.shown_after_word)
    sleep(500) -- Neovim trims the shown text at once and asks the server 200 ms later
  end
  result.before_line = lines()
  result.cursor_before_line = vim.api.nvim_win_get_cursor(0)
  vim.api.nvim_input("<M-Down>")
  wait_for(function() return not vim.deep_equal(lines(), result.before_line) end, 5000)
  result.after_line = lines()
  sleep(500)
  result.counters_after = server_counters()
  vim.api.nvim_input("<Esc>")
  sleep(50)
  result.ok = true
end

local function explain()
  start()
  local deltas, shown_while_streaming = {}, nil
  -- Observe the stream notifications the plugin routes (wrapping its delta callbacks).
  setmetatable(client.streams, {
    __newindex = function(t, k, v)
      if v then
        local on_delta = v.on_delta
        v.on_delta = function(delta)
          table.insert(deltas, delta)
          on_delta(delta)
          local float = require("codehearth.explain").last
          shown_while_streaming = float and vim.api.nvim_buf_get_lines(float.buf, 0, -1, false)
        end
      end
      rawset(t, k, v)
    end,
  })
  local first = vim.fn.index(lines(), "    def save(self, path: Path) -> None:") + 1
  vim.cmd(("%d,%dCodehearthExplain"):format(first, first + 2))
  local float = require("codehearth.explain").last
  assert(float, "no float opened")
  local done = wait_for(function()
    if not float:valid() then
      return "closed"
    end
    local footer = vim.api.nvim_win_get_config(float.win).footer
    local text = type(footer) == "table" and footer[1] and footer[1][1] or tostring(footer)
    return not text:find("streaming") and text
  end, 40000)
  result.footer = done
  result.deltas = deltas
  result.shown_while_streaming = shown_while_streaming
  if float:valid() then
    local cfg = vim.api.nvim_win_get_config(float.win)
    result.title = type(cfg.title) == "table" and cfg.title[1][1] or cfg.title
    result.relative = cfg.relative
    result.float_lines = vim.api.nvim_buf_get_lines(float.buf, 0, -1, false)
    result.filetype = vim.bo[float.buf].filetype
    result.current_win_is_float = vim.api.nvim_get_current_win() == float.win
  end
  result.ok = true
end

local function review()
  start()
  local bufnr = vim.api.nvim_get_current_buf()
  vim.fn.setqflist({}, " ", { title = "stale" })
  local done = false
  ch.review(nil, nil, function(res)
    done = true
    result.review = res
  end)
  wait_for(function() return done end, 50000)
  result.completed = done
  result.qf = vim.fn.getqflist({ title = 1, items = 1 })
  for _, item in ipairs(result.qf.items) do
    item.bufname = vim.api.nvim_buf_get_name(item.bufnr)
  end
  result.bufname = vim.api.nvim_buf_get_name(bufnr)
  result.diagnostics = #vim.diagnostic.get(bufnr, {})
  result.qf_window_open = vim.fn.getqflist({ winid = 1 }).winid ~= 0
  result.ok = true
end

local function chat()
  start()
  vim.cmd("CodehearthChat Say hello in one short sentence.")
  local chat_state = require("codehearth.chat").state
  wait_for(function() return chat_state.buf and not chat_state.replying end, 40000)
  result.replying = chat_state.replying
  result.chat_lines = vim.api.nvim_buf_get_lines(chat_state.buf, 0, -1, false)
  result.chat_filetype = vim.bo[chat_state.buf].filetype
  result.ok = true
end

local scenarios = {
  completion = completion, partial_accept = partial_accept, explain = explain, review = review, chat = chat,
}

co = coroutine.create(function()
  local ok, err = xpcall(scenarios[env.CODEHEARTH_SCENARIO], debug.traceback)
  if not ok then
    result.error = err
  end
  finish()
end)

vim.defer_fn(function()
  result.error = "driver timeout"
  finish()
end, tonumber(env.CODEHEARTH_TIMEOUT_MS or "55000"))

vim.schedule(function()
  local ok, err = coroutine.resume(co)
  if not ok then
    result.error = tostring(err)
    finish()
  end
end)
