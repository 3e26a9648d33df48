--- :CodehearthReview: the server reviews the buffer (or a range), publishes diagnostics,
--- and its findings go to the quickfix list.
local client = require("codehearth.client")
local config = require("codehearth.config")
local status = require("codehearth.status")

local M = {}

local TYPES = { error = "E", warning = "W", info = "I", hint = "N" }

--- Quickfix items for the findings of a review result (pure, for tests).
---@param findings table[]
---@param fallback_bufnr integer buffer of findings that have no uri/range
---@param first_line integer 1-based first reviewed line (findings count from it)
---@return table[]
function M.qf_items(findings, fallback_bufnr, first_line)
  local items = {}
  for _, f in ipairs(findings or {}) do
    local rng = status.get(f, "range")
    local lnum, end_lnum
    if rng then
      lnum = rng.start.line + 1
      -- Whole-line ranges may end at column 0 of the next line.
      local last = rng["end"].line
      end_lnum = (rng["end"].character == 0 and last > rng.start.line) and last or last + 1
    else
      lnum = (status.get(f, "line") or 1) + first_line - 1
      end_lnum = (status.get(f, "end_line") or status.get(f, "line") or 1) + first_line - 1
    end
    local uri = status.get(f, "uri")
    items[#items + 1] = {
      bufnr = uri and vim.uri_to_bufnr(uri) or fallback_bufnr,
      lnum = lnum,
      end_lnum = end_lnum,
      col = 1,
      text = tostring(status.get(f, "message") or ""),
      type = TYPES[status.get(f, "severity") or ""] or "W",
    }
  end
  return items
end

--- The result of the last review (for tests and scripts).
M.last = nil

---@param bufnr integer
---@param line1? integer
---@param line2? integer
---@param on_done? fun(result: table?)
function M.run(bufnr, line1, line2, on_done)
  local argument = { uri = vim.uri_from_bufnr(bufnr), sampling = config.values.sampling.review }
  if line1 and line2 then
    argument.range = client.line_range(bufnr, line1, line2)
  end
  local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":t")
  vim.api.nvim_echo({ { "codehearth: reviewing " .. name .. "…" } }, false, {})
  client.execute_streamed("codehearth.review", argument, function() end, function(err, result)
    if err then
      vim.notify("codehearth: review failed: " .. client.error_text(err), vim.log.levels.ERROR)
      M.last = nil
      if on_done then on_done(nil) end
      return
    end
    M.last = result
    local items = M.qf_items(result.findings, bufnr, line1 or 1)
    local title = ("codehearth review: %s (%d finding%s)"):format(name, #items, #items == 1 and "" or "s")
    -- Replace the list even when empty, so stale findings of an earlier review go away.
    vim.fn.setqflist({}, " ", { title = title, items = items })
    if #items > 0 then
      vim.cmd("botright copen")
    else
      vim.api.nvim_echo({ { "codehearth: no findings in " .. name } }, false, {})
    end
    if on_done then on_done(result) end
  end, bufnr)
end

return M
