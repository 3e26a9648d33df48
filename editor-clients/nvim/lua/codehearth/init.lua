--- codehearth for Neovim: a client of the codehearth language server (offline code
--- assistant). Ghost-text completion comes from Neovim's native LSP inline completion;
--- explain, chat, review and status are the server's executeCommand commands.
local config = require("codehearth.config")
local client = require("codehearth.client")
local status = require("codehearth.status")
local inline = require("codehearth.inline")

local M = {}

local group = nil

--- Attach the server to `bufnr` when it is a real file of a configured filetype.
local function maybe_start(bufnr)
  if vim.bo[bufnr].buftype ~= "" then
    return -- help, chat, quickfix, terminals, floats
  end
  if not vim.tbl_contains(config.values.filetypes, vim.bo[bufnr].filetype) then
    return
  end
  client.start(bufnr)
end

--- Set the plugin up: start the server for the configured filetypes and map keys in the
--- buffers it attaches to. Calling it again replaces the options (running servers keep
--- theirs until restarted).
---@param opts? codehearth.Config|table
function M.setup(opts)
  config.set(opts)
  group = vim.api.nvim_create_augroup("codehearth", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = config.values.filetypes,
    callback = function(args)
      maybe_start(args.buf)
    end,
  })
  vim.api.nvim_create_autocmd("LspAttach", {
    group = group,
    callback = function(args)
      local c = vim.lsp.get_client_by_id(args.data.client_id)
      if c and c.name == client.NAME and config.values.inline_completion then
        inline.attach(args.buf, config.values.keymaps)
      end
    end,
  })
  -- Buffers opened before setup() (e.g. `nvim file.py` with a lazy-loaded plugin).
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      maybe_start(bufnr)
    end
  end
end

--- The statusline component: "⬢ model 5.1/80.0 GiB 212 t/s", "⬢ model CPU",
--- "⬢ model loading…", "⬢ error", or "" while no server runs.
---@return string
function M.statusline()
  return status.format(status.current, config.values.icon)
end

--- The last status object (fields as in the server's protocol doc), or nil.
function M.status()
  return status.current
end

--- Accept / dismiss / cycle the ghost-text suggestion (for custom mappings).
M.accept = inline.accept
M.dismiss = inline.dismiss
M.accept_word = inline.accept_word
M.accept_line = inline.accept_line
function M.next() inline.cycle(1) end
function M.prev() inline.cycle(-1) end

local function attached(bufnr)
  local c = client.get()
  if not c or not c.attached_buffers[bufnr] then
    vim.notify("codehearth: the server is not attached to this buffer", vim.log.levels.WARN)
    return false
  end
  return true
end

--- Explain lines line1..line2 of the current buffer (no range: the definition around
--- the cursor) in a float that fills as the reply streams.
function M.explain(line1, line2)
  local bufnr = vim.api.nvim_get_current_buf()
  if not attached(bufnr) then
    return
  end
  local range = line1 and client.line_range(bufnr, line1, line2) or client.cursor_range()
  require("codehearth.explain").run(bufnr, range)
end

--- Open the chat buffer and send `message` (prompts when empty); a range attaches
--- those lines of the current buffer to the conversation.
function M.chat(message, line1, line2)
  local bufnr = vim.api.nvim_get_current_buf()
  local attach = nil
  if line1 and client.get() and client.get().attached_buffers[bufnr] then
    attach = { bufnr = bufnr, line1 = line1, line2 = line2 }
  end
  require("codehearth.chat").open(message, attach)
end

--- Review the current buffer (or lines line1..line2): findings → quickfix list.
function M.review(line1, line2, on_done)
  local bufnr = vim.api.nvim_get_current_buf()
  if not attached(bufnr) then
    return
  end
  require("codehearth.review").run(bufnr, line1, line2, on_done)
end

--- Fetch the status and show it in a float.
function M.show_status()
  local function show(s)
    local lines = status.details(s)
    table.insert(lines, 1, M.statusline())
    table.insert(lines, 2, "")
    require("codehearth.float").open({ title = "codehearth status", lines = lines })
  end
  if not client.get() then
    show(nil)
    return
  end
  client.refresh_status(function(s)
    show(s or status.current)
  end)
end

--- Stop every streaming explain/chat/review of this editor.
function M.cancel()
  for stream_id in pairs(client.streams) do
    client.cancel(stream_id)
  end
end

return M
