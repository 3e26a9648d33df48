--- Starting/attaching the server, executing its commands, routing its notifications.
local config = require("codehearth.config")
local status = require("codehearth.status")

local M = {}

M.NAME = "codehearth"

--- Streamed requests in flight, by streamId: { on_delta = fun(delta), on_done = fun(msg) }.
---@type table<string, {on_delta: fun(delta: string), on_done?: fun(msg: table)}>
M.streams = {}

local stream_counter = 0

--- A fresh streamId; unique across editor sessions sharing a server is not needed (one
--- server per editor), but the pid keeps ids readable in server logs.
function M.new_stream_id()
  stream_counter = stream_counter + 1
  return ("nvim-%d-%d"):format(vim.fn.getpid(), stream_counter)
end

--- Lua's empty table encodes as a JSON array; the server expects objects everywhere in
--- initializationOptions, so empty tables are sent as {}.
local function objects(value)
  if type(value) ~= "table" then
    return value
  end
  if next(value) == nil then
    return vim.empty_dict()
  end
  local out = {}
  for k, v in pairs(value) do
    out[k] = objects(v)
  end
  return out
end
M.objects = objects

---@return vim.lsp.Client?
function M.get()
  return vim.lsp.get_clients({ name = M.NAME })[1]
end

local function redraw()
  pcall(vim.cmd.redrawstatus, { bang = true })
  pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "CodehearthStatus", modeline = false })
end

--- Remember a status object and redraw the statuslines that show it.
function M.set_status(s)
  if type(s) == "table" then
    status.current = s
    redraw()
  end
end

local poll_timer = nil

local function stop_polling()
  if poll_timer then
    poll_timer:stop()
    poll_timer:close()
    poll_timer = nil
  end
end

--- Ask the server for its status once; `done` gets the object (or nil on error).
function M.refresh_status(done)
  local client = M.get()
  if not client then
    return
  end
  -- No arguments at all: an empty Lua table would go out as [] and is not needed.
  client:request("workspace/executeCommand", { command = "codehearth.status" }, function(err, result)
    if not err then
      M.set_status(result)
    end
    if done then
      done(not err and result or nil)
    end
  end)
end

--- Until the server pushes codehearth/status itself, poll while the model is loading or
--- downloading, so the statusline does not stay at "loading…" with servers that only
--- answer the command.
local function poll_while_loading()
  local every = config.values.status_poll_ms
  if not every or every <= 0 or poll_timer then
    return
  end
  poll_timer = assert(vim.uv.new_timer())
  poll_timer:start(every, every, vim.schedule_wrap(function()
    if status.pushed or not M.get() then
      stop_polling()
      return
    end
    M.refresh_status(function(s)
      local state = s and status.get(s, "state")
      if state ~= "loading" and state ~= "downloading" then
        stop_polling()
      end
    end)
  end))
end

local handlers = {
  ["codehearth/status"] = function(_, params)
    status.pushed = true
    stop_polling()
    M.set_status(params)
  end,
  ["codehearth/stream"] = function(_, params)
    local id = params and params.id
    local stream = id ~= nil and M.streams[tostring(id)]
    if not stream then
      return
    end
    local delta = params.delta
    if type(delta) == "string" and delta ~= "" then
      stream.on_delta(delta)
    end
    if params.done == true then
      M.streams[tostring(id)] = nil
      if stream.on_done then
        stream.on_done(params)
      end
    end
  end,
}

local function on_init(client)
  -- One status call at attach feeds the statusline before any push arrives.
  vim.schedule(function()
    M.refresh_status(function(s)
      local state = s and status.get(s, "state")
      if state == "loading" or state == "downloading" or not s then
        poll_while_loading()
      end
    end)
  end)
  return client
end

local function on_exit()
  vim.schedule(function()
    stop_polling()
    status.current = nil
    status.pushed = false
    for id, stream in pairs(M.streams) do
      M.streams[id] = nil
      if stream.on_done then
        stream.on_done({ done = true, stopReason = "failed" })
      end
    end
    redraw()
  end)
end

--- Start the server (or reuse the running one) and attach it to `bufnr`.
---@param bufnr integer
---@return integer? client_id
function M.start(bufnr)
  local opts = config.values
  local init_options = opts.init_options
  local root = vim.fs.root(bufnr, opts.root_markers) or vim.fn.getcwd()
  return vim.lsp.start({
    name = M.NAME,
    cmd = opts.cmd,
    root_dir = root,
    init_options = init_options and next(init_options) and objects(init_options) or nil,
    handlers = handlers,
    on_init = on_init,
    on_exit = on_exit,
  }, {
    bufnr = bufnr,
    -- Every buffer shares one server: it keeps the model resident, a second process
    -- would load (and hold the memory of) a second copy.
    reuse_client = function(client, cfg)
      return client.name == cfg.name and not client:is_stopped()
    end,
  })
end

--- workspace/executeCommand with one argument object.
---@param command string
---@param argument table?
---@param on_result fun(err: lsp.ResponseError?, result: any)
---@param bufnr? integer
---@return integer? request_id
function M.execute(command, argument, on_result, bufnr)
  local client = M.get()
  if not client then
    vim.notify("codehearth: the server is not running (open a supported file first)", vim.log.levels.WARN)
    return nil
  end
  local params = { command = command, arguments = argument and { objects(argument) } or nil }
  local ok, request_id = client:request("workspace/executeCommand", params, function(err, result)
    on_result(err, result)
  end, bufnr)
  if not ok then
    on_result({ code = -32803, message = "codehearth: the server has stopped" }, nil)
    return nil
  end
  return request_id
end

--- Start a streamed command: deltas go to `on_delta`, the response to `on_result`.
---@return string stream_id
function M.execute_streamed(command, argument, on_delta, on_result, bufnr)
  local stream_id = M.new_stream_id()
  argument.streamId = stream_id
  M.streams[stream_id] = { on_delta = on_delta }
  M.execute(command, argument, function(err, result)
    -- All stream messages come before the response; drop the route now.
    M.streams[stream_id] = nil
    on_result(err, result)
    -- Generation changes tokens/s; servers without the push need a pull to show it.
    if not status.pushed then
      M.refresh_status()
    end
  end, bufnr)
  return stream_id
end

--- Ask the server to stop a streamed request; it then returns the text so far.
function M.cancel(stream_id)
  if M.get() then
    M.execute("codehearth.cancel", { streamId = stream_id }, function() end)
  end
end

--- The LSP range of lines line1..line2 (1-based, inclusive), whole lines.
---@return lsp.Range
function M.line_range(bufnr, line1, line2)
  local client = M.get()
  local enc = client and client.offset_encoding or "utf-16"
  local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ""
  return {
    start = { line = line1 - 1, character = 0 },
    ["end"] = { line = line2 - 1, character = vim.str_utfindex(last, enc) },
  }
end

--- The empty LSP range at the cursor of the current window.
---@return lsp.Range
function M.cursor_range()
  local client = M.get()
  local pos = vim.lsp.util.make_position_params(0, client and client.offset_encoding or "utf-16").position
  return { start = pos, ["end"] = pos }
end

--- A one-line description of an LSP error, without any user code.
function M.error_text(err)
  if type(err) == "table" then
    return err.message or vim.inspect(err)
  end
  return tostring(err)
end

return M
