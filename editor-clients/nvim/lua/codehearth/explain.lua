--- :CodehearthExplain: the explanation of a range streams into a markdown float.
local client = require("codehearth.client")
local config = require("codehearth.config")
local float = require("codehearth.float")

local M = {}

--- The float of the last explain (tests and users may inspect it).
---@type codehearth.Float?
M.last = nil

---@param bufnr integer
---@param range lsp.Range
function M.run(bufnr, range)
  if not client.get() then
    vim.notify("codehearth: the server is not attached to this buffer", vim.log.levels.WARN)
    return
  end
  local text = ""
  local running = true
  local stream_id
  local win = float.open({
    title = "codehearth: explain",
    lines = { "…" },
    filetype = "markdown",
    footer = "streaming…",
    -- Closing the float early stops generation: the model is shared with completion.
    on_close = function()
      if running and stream_id then
        client.cancel(stream_id)
      end
    end,
  })
  M.last = win
  local argument = {
    uri = vim.uri_from_bufnr(bufnr),
    range = range,
    sampling = config.values.sampling.explain,
  }
  stream_id = client.execute_streamed("codehearth.explain", argument, function(delta)
    text = text .. delta
    win:set_text(text)
  end, function(err, result)
    running = false
    if err then
      win:set_text(text ~= "" and text or "*(no explanation)*")
      win:set_footer("failed: " .. client.error_text(err))
      return
    end
    -- The response holds the whole text (trimmed); it is what a missed notification lacks.
    local markdown = type(result) == "table" and type(result.markdown) == "string" and result.markdown or text
    win:set_text(markdown ~= "" and markdown or "*(the model returned no text)*")
    win:set_footer(result.cancelled == true and "cancelled" or ("done · " .. tostring(result.stopReason)))
  end, bufnr)
end

return M
