--- Inline completion (ghost text) through Neovim's native vim.lsp.inline_completion:
--- it requests on InsertEnter/CursorMovedI (debounced), draws the suggestion as virtual
--- text and inserts it on get(). This module only enables it and maps the keys.
local M = {}

local ic = vim.lsp.inline_completion

--- Accept the shown suggestion. Returns false when none is shown.
---@return boolean
function M.accept()
  return ic ~= nil and ic.get() or false
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
  map(keymaps.next, function() M.cycle(1) end, "codehearth: next suggestion", false)
  map(keymaps.prev, function() M.cycle(-1) end, "codehearth: previous suggestion", false)
end

return M
