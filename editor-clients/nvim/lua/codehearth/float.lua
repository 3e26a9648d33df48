--- A floating window whose text can grow while a reply streams in.
local config = require("codehearth.config")

local M = {}

---@class codehearth.Float
---@field buf integer
---@field win integer
---@field text string
local Float = {}
Float.__index = Float

local function size(lines)
  local opts = config.values.float
  local width = 20
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line) + 1)
  end
  width = math.min(width, opts.max_width, vim.o.columns - 4)
  -- Wrapped lines take several rows; count them so the window fits its text.
  local height = 0
  for _, line in ipairs(lines) do
    height = height + math.max(1, math.ceil(vim.fn.strdisplaywidth(line) / width))
  end
  height = math.max(1, math.min(height, opts.max_height, vim.o.lines - 4))
  return width, height
end

--- Open a float near the cursor.
---@param opts {title: string, lines?: string[], filetype?: string, footer?: string, on_close?: fun()}
---@return codehearth.Float
function M.open(opts)
  local lines = opts.lines or { "…" }
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = "wipe"
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  if opts.filetype then
    vim.bo[buf].filetype = opts.filetype
  end
  local width, height = size(lines)
  local win = vim.api.nvim_open_win(buf, true, {
    relative = "cursor",
    row = 1,
    col = 0,
    width = width,
    height = height,
    style = "minimal",
    border = config.values.float.border,
    title = " " .. opts.title .. " ",
    title_pos = "left",
    footer = opts.footer and (" " .. opts.footer .. " ") or nil,
    footer_pos = opts.footer and "right" or nil,
  })
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].conceallevel = 2
  local self = setmetatable({ buf = buf, win = win, text = table.concat(lines, "\n") }, Float)
  for _, key in ipairs({ "q", "<Esc>" }) do
    vim.keymap.set("n", key, function() self:close() end, { buffer = buf, nowait = true, desc = "close" })
  end
  if opts.on_close then
    vim.api.nvim_create_autocmd("WinClosed", {
      pattern = tostring(win),
      once = true,
      callback = function() opts.on_close() end,
    })
  end
  return self
end

function Float:valid()
  return vim.api.nvim_win_is_valid(self.win) and vim.api.nvim_buf_is_valid(self.buf)
end

--- Replace the whole text and resize the window to it.
function Float:set_text(text)
  self.text = text
  if not self:valid() then
    return
  end
  local lines = vim.split(text, "\n", { plain = true })
  vim.bo[self.buf].modifiable = true
  vim.api.nvim_buf_set_lines(self.buf, 0, -1, false, lines)
  vim.bo[self.buf].modifiable = false
  local width, height = size(lines)
  vim.api.nvim_win_set_config(self.win, { width = width, height = height })
end

function Float:set_footer(footer)
  if self:valid() then
    vim.api.nvim_win_set_config(self.win, { footer = " " .. footer .. " ", footer_pos = "right" })
  end
end

function Float:close()
  if vim.api.nvim_win_is_valid(self.win) then
    vim.api.nvim_win_close(self.win, true)
  end
end

return M
