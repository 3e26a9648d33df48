--- :CodehearthChat: a scratch markdown buffer holding one chat session with the server.
--- Replies stream in at the end of the buffer; <CR> (or i/a/o) asks the next question.
local client = require("codehearth.client")
local config = require("codehearth.config")

local M = {}

local BUF_NAME = "codehearth://chat"
local HEADER = {
  "# codehearth chat",
  "",
  "*<CR> send a message · <C-c> stop the reply · R reset · q close*",
}

---@class codehearth.ChatState
M.state = {
  buf = nil, ---@type integer?
  session = nil, ---@type string? client-chosen, so a reset works before any reply
  replying = false,
  stream_id = nil, ---@type string?
  queued = nil, ---@type {message: string, attach: table?}?
  reply_line = 0, -- 0-based line where the streaming reply starts
  reply_text = "",
  generation = 0,
}
local S = M.state

local function new_session()
  return ("nvim-%d-%d"):format(vim.fn.getpid(), vim.uv.hrtime())
end

--- Write lines at the end of the chat buffer (it is read-only for the user).
local function set_lines(first, last, lines)
  if not (S.buf and vim.api.nvim_buf_is_valid(S.buf)) then
    return
  end
  vim.bo[S.buf].modifiable = true
  vim.api.nvim_buf_set_lines(S.buf, first, last, false, lines)
  vim.bo[S.buf].modifiable = false
  -- Follow the end in windows that show the chat, like a terminal does.
  local count = vim.api.nvim_buf_line_count(S.buf)
  for _, win in ipairs(vim.fn.win_findbuf(S.buf)) do
    vim.api.nvim_win_set_cursor(win, { count, 0 })
  end
end

local function append(lines)
  local count = vim.api.nvim_buf_line_count(S.buf)
  local empty = count == 1 and vim.api.nvim_buf_get_lines(S.buf, 0, 1, false)[1] == ""
  set_lines(empty and 0 or count, -1, lines)
end

local function show_reply(text)
  set_lines(S.reply_line, -1, vim.split(text, "\n", { plain = true }))
end

local function ensure_buffer()
  if S.buf and vim.api.nvim_buf_is_valid(S.buf) then
    return S.buf
  end
  local buf = vim.api.nvim_create_buf(true, true)
  vim.api.nvim_buf_set_name(buf, BUF_NAME)
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "hide"
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = "markdown"
  vim.bo[buf].modifiable = false
  S.buf = buf
  local function map(key, fn, desc)
    vim.keymap.set("n", key, fn, { buffer = buf, nowait = true, desc = desc })
  end
  for _, key in ipairs({ "<CR>", "i", "a", "o" }) do
    map(key, function() M.ask() end, "codehearth: send a message")
  end
  map("<C-c>", function() M.cancel() end, "codehearth: stop the reply")
  map("R", function() M.reset() end, "codehearth: forget this conversation")
  map("q", function() vim.cmd("close") end, "close")
  append(HEADER)
  return buf
end

local function show_buffer()
  local buf = ensure_buffer()
  if #vim.fn.win_findbuf(buf) > 0 then
    vim.api.nvim_set_current_win(vim.fn.win_findbuf(buf)[1])
    return
  end
  local open = config.values.chat.open
  if open == "vsplit" then
    vim.cmd("botright vsplit")
  elseif open == "split" then
    vim.cmd("botright split")
  elseif open == "tab" then
    vim.cmd("tabnew")
  end
  vim.api.nvim_win_set_buf(0, buf)
  vim.wo.wrap = true
  vim.wo.linebreak = true
end

local send

local function finish(err, result)
  S.replying = false
  S.stream_id = nil
  if err then
    show_reply(S.reply_text .. (S.reply_text ~= "" and "\n\n" or "") .. "*(failed: " .. client.error_text(err) .. ")*")
  else
    local reply = type(result) == "table" and type(result.reply) == "string" and result.reply or S.reply_text
    if reply == "" then
      reply = "*(no reply)*"
    end
    if type(result) == "table" and result.cancelled == true then
      reply = reply .. " *(stopped)*"
    end
    show_reply(reply)
  end
  if S.queued then
    local next_message = S.queued
    S.queued = nil
    send(next_message.message, next_message.attach)
  end
end

---@param message string
---@param attach? {bufnr: integer, line1: integer, line2: integer}
send = function(message, attach)
  S.session = S.session or new_session()
  local argument = { message = message, session = S.session, sampling = config.values.sampling.chat }
  local lines = { "", "## You", "" }
  vim.list_extend(lines, vim.split(message, "\n", { plain = true }))
  if attach then
    argument.uri = vim.uri_from_bufnr(attach.bufnr)
    argument.range = client.line_range(attach.bufnr, attach.line1, attach.line2)
    local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(attach.bufnr), ":t")
    lines[#lines + 1] = ""
    lines[#lines + 1] = ("*(attached %s, lines %d–%d)*"):format(name, attach.line1, attach.line2)
  end
  vim.list_extend(lines, { "", "## codehearth", "" })
  append(lines)
  -- The reply goes below the blank line that ends `lines`.
  S.reply_line = vim.api.nvim_buf_line_count(S.buf)
  S.reply_text = ""
  show_reply("…")
  S.replying = true
  local generation = S.generation
  S.stream_id = client.execute_streamed("codehearth.chat", argument, function(delta)
    if generation == S.generation then
      S.reply_text = S.reply_text .. delta
      show_reply(S.reply_text)
    end
  end, function(err, result)
    if generation == S.generation then
      finish(err, result)
    end
  end, attach and attach.bufnr or nil)
end

--- Send `message` (prompting for one when empty). A message sent while a reply streams
--- stops that reply first and goes out when it has returned.
---@param message? string
---@param attach? {bufnr: integer, line1: integer, line2: integer}
function M.open(message, attach)
  if not client.get() then
    vim.notify("codehearth: the server is not running (open a supported file first)", vim.log.levels.WARN)
    return
  end
  show_buffer()
  if not message or vim.trim(message) == "" then
    M.ask(attach)
    return
  end
  if S.replying then
    S.queued = { message = message, attach = attach }
    M.cancel()
    return
  end
  send(message, attach)
end

--- Prompt for the next message.
function M.ask(attach)
  vim.ui.input({ prompt = "codehearth> " }, function(input)
    if input and vim.trim(input) ~= "" then
      M.open(input, attach)
    end
  end)
end

--- Stop the streaming reply; the server keeps what was said so far.
function M.cancel()
  if S.replying and S.session then
    client.execute("codehearth.cancel", { session = S.session }, function() end)
  end
end

--- Forget the conversation on the server and clear the buffer.
function M.reset()
  M.cancel()
  if S.session and client.get() then
    client.execute("codehearth.chat.reset", { session = S.session }, function() end)
  end
  -- Callbacks of the reply in flight belong to the old conversation: they check this.
  S.generation = S.generation + 1
  S.session = nil
  S.queued = nil
  S.replying = false
  S.stream_id = nil
  if S.buf and vim.api.nvim_buf_is_valid(S.buf) then
    set_lines(0, -1, { "" })
    append(HEADER)
  end
end

return M
