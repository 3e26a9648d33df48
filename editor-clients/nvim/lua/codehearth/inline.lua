--- Inline completion (ghost text) through Neovim's native vim.lsp.inline_completion:
--- it requests on InsertEnter/CursorMovedI (debounced), draws the suggestion as virtual
--- text. This module enables it, maps the keys, and accepts what is shown (all of it, its
--- next word or its first line).
local M = {}

local ic = vim.lsp.inline_completion

--- Accept the shown suggestion. Returns false when none is shown.
---@return boolean
function M.accept()
  return M.accept_part(function(shown) return shown end)
end

--- Hide the shown suggestion without inserting it. Returns false when none is shown.
--- The native module has no dismiss: get() with an on_accept that does nothing clears
--- the suggestion the same way accepting does, minus the edit.
---@return boolean
function M.dismiss()
  return ic ~= nil and ic.get({ on_accept = function() end }) or false
end

--- Show the next (count > 0) or previous (count < 0) suggestion.
function M.cycle(count)
  if ic then
    ic.select({ count = count })
  end
end

--- Whether a suggestion is drawn in `bufnr` right now (the native module keeps its
--- state private; its extmark namespace is the public trace of it).
---@return boolean
function M.visible(bufnr)
  local ns = vim.api.nvim_get_namespaces()["nvim.lsp.inline_completion"]
  if not ns then
    return false
  end
  return #vim.api.nvim_buf_get_extmarks(bufnr or 0, ns, 0, -1, { limit = 1 }) > 0
end

--- The text of the suggestion drawn in `bufnr` (virtual text + virtual lines), or nil.
---@return string?
function M.shown_text(bufnr)
  local ns = vim.api.nvim_get_namespaces()["nvim.lsp.inline_completion"]
  if not ns then
    return nil
  end
  local marks = vim.api.nvim_buf_get_extmarks(bufnr or 0, ns, 0, -1, { details = true })
  local mark = marks[1]
  if not mark then
    return nil
  end
  local function join(chunks)
    local parts = {}
    for _, chunk in ipairs(chunks or {}) do
      parts[#parts + 1] = chunk[1]
    end
    return table.concat(parts)
  end
  local details = mark[4]
  local lines = { join(details.virt_text) }
  for _, vline in ipairs(details.virt_lines or {}) do
    lines[#lines + 1] = join(vline)
  end
  return table.concat(lines, "\n")
end

--- The first word of `text`: leading blanks and a run of word characters, or else a run
--- of other characters (`.`, `(`, `+=`), as VS Code's "accept next word" takes it.
---@param text string
---@return string
function M.first_word(text)
  local head = text:match("^[ \t]*[%w_]+") or text:match("^[ \t]*[^%w_%s]+")
  return head or text:match("^%s+") or text
end

--- The first line of `text`; a suggestion that starts on the next line gives the line
--- break and that next line.
---@param text string
---@return string
function M.first_line(text)
  local line = text:match("^[^\n]*")
  if line ~= "" and line:match("%S") then
    return line
  end
  local nl = text:find("\n", #line + 1, true)
  if not nl then
    return text
  end
  local next_end = text:find("\n", nl + 1, true)
  return next_end and text:sub(1, next_end - 1) or text
end

--- Insert `text` at the cursor (insert mode) and put the cursor after it.
local function insert_at_cursor(text)
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local lines = vim.split(text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(0, row - 1, col, row - 1, col, lines)
  local last = #lines == 1 and col + #lines[1] or #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + #lines - 1, last })
end

--- Accept a part of the shown suggestion (`pick` chooses it from the shown text); the
--- server answers the next request with the rest from its cache (typing along).
---
--- The text inserted is what is shown, at the cursor. Neovim keeps showing a suggestion
--- while the typed characters match it (trimmed) until its next request answers, and its
--- own accept would insert the whole item at the position it was made for, repeating
--- what was typed since; the shown text is always right. Returns false when none is
--- shown; the edit itself is scheduled, so this works from an <expr> mapping too.
---@param pick fun(shown: string): string
---@return boolean
function M.accept_part(pick)
  local shown = ic ~= nil and M.visible(0) and M.shown_text(0)
  if not shown or shown == "" then
    return false
  end
  local part = pick(shown)
  return ic.get({ on_accept = function() insert_at_cursor(part) end })
end

--- Accept the next word of the shown suggestion. Returns false when none is shown.
function M.accept_word()
  return M.accept_part(M.first_word)
end

--- Accept the first line of the shown suggestion. Returns false when none is shown.
function M.accept_line()
  return M.accept_part(M.first_line)
end

--- An expr mapping: run `action`; when it had nothing to act on, type `key` as usual.
local function fallthrough(action, key)
  return function()
    if action() then
      return ""
    end
    return key -- expr mappings replace keycodes; noremap, so no recursion
  end
end

--- Enable ghost text in `bufnr` and map the keys there (buffer-local, so other
--- buffers keep their own <Tab>).
---@param bufnr integer
---@param keymaps codehearth.Keymaps
function M.attach(bufnr, keymaps)
  if not ic then
    vim.notify_once("codehearth: inline completion needs Neovim 0.12 (vim.lsp.inline_completion)", vim.log.levels.WARN)
    return
  end
  ic.enable(true, { bufnr = bufnr })
  local function map(lhs, rhs, desc, expr)
    if lhs then
      vim.keymap.set("i", lhs, rhs, { buffer = bufnr, expr = expr, silent = true, desc = desc })
    end
  end
  map(keymaps.accept, fallthrough(M.accept, keymaps.accept or ""), "codehearth: accept suggestion", true)
  map(keymaps.dismiss, fallthrough(M.dismiss, keymaps.dismiss or ""), "codehearth: dismiss suggestion", true)
  map(keymaps.accept_word, fallthrough(M.accept_word, keymaps.accept_word or ""), "codehearth: accept next word", true)
  map(keymaps.accept_line, fallthrough(M.accept_line, keymaps.accept_line or ""), "codehearth: accept line", true)
  map(keymaps.next, function() M.cycle(1) end, "codehearth: next suggestion", false)
  map(keymaps.prev, function() M.cycle(-1) end, "codehearth: previous suggestion", false)
end

return M
