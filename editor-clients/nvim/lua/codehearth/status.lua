--- The server's status object: kept here, formatted for the statusline and the status float.
--- format() and details() are pure functions of the status table, so they can be tested
--- without a server. Every field is optional: JSON null arrives as vim.NIL.
local M = {}

---@type table? the last status object received
M.current = nil
--- Set once the server pushed codehearth/status itself (then polling stops).
M.pushed = false

local GIB = 1024 * 1024 * 1024
local MIB = 1024 * 1024

--- nil for absent and JSON-null values, the value otherwise.
local function get(t, ...)
  local v = t
  for _, key in ipairs({ ... }) do
    if type(v) ~= "table" then
      return nil
    end
    v = v[key]
  end
  if v == vim.NIL then
    return nil
  end
  return v
end
M.get = get

local function num(v)
  return type(v) == "number" and v or nil
end

--- Bytes used by this server process on the GPU (older servers said measured_bytes).
local function process_vram(s)
  return num(get(s, "vram", "process_bytes")) or num(get(s, "vram", "measured_bytes"))
end

--- "gpu", "cpu" or nil (unknown). Servers that predate the `device` field are judged by
--- their vram object and offloaded layer count.
function M.device(s)
  local device = get(s, "device")
  if device == "gpu" or device == "cpu" then
    return device
  end
  if get(s, "vram") ~= nil then
    return "gpu"
  end
  local layers = num(get(s, "gpu_layers")) or num(get(s, "loaded_gpu_layers"))
  if layers ~= nil then
    return layers > 0 and "gpu" or "cpu"
  end
  return nil
end

--- The statusline text for a status object, e.g. "⬢ qwen2.5-coder-1.5b 5.1/80.0 GiB 212 t/s",
--- "⬢ smollm2-135m CPU", "⬢ smollm2-135m loading…", "⬢ smollm2-135m downloading 42%",
--- "⬢ error". "" when there is no status yet.
---@param s table?
---@param icon? string
---@return string
function M.format(s, icon)
  icon = icon or "⬢"
  if type(s) ~= "table" then
    return ""
  end
  local state = get(s, "state")
  if state == "error" then
    return icon .. " error"
  end
  local parts = { icon, get(s, "model") or "codehearth" }
  if state == "loading" then
    parts[#parts + 1] = "loading…"
  elseif state == "downloading" then
    local percent = num(get(s, "progress", "percent"))
    parts[#parts + 1] = percent and ("downloading %d%%"):format(math.floor(percent)) or "downloading…"
  elseif state == "ready" or state == "busy" then
    local device = M.device(s)
    if device == "gpu" then
      local used, total = process_vram(s), num(get(s, "vram", "gpu_total_bytes"))
      if used and total then
        parts[#parts + 1] = ("%.1f/%.1f GiB"):format(used / GIB, total / GIB)
      elseif used then
        parts[#parts + 1] = ("%.1f GiB"):format(used / GIB)
      else
        parts[#parts + 1] = "GPU"
      end
    elseif device == "cpu" then
      parts[#parts + 1] = "CPU"
    end
    local tps = num(get(s, "tokens_per_s"))
    if tps then
      parts[#parts + 1] = ("%d t/s"):format(math.floor(tps + 0.5))
    end
  elseif state ~= nil then
    parts[#parts + 1] = tostring(state)
  end
  return table.concat(parts, " ")
end

local function bytes(v, unit, name)
  return v and ("%.1f %s"):format(v / unit, name) or "?"
end

--- Human-readable lines describing a status object, for :CodehearthStatus.
---@param s table?
---@return string[]
function M.details(s)
  if type(s) ~= "table" then
    return { "no status yet (is the server attached to this buffer?)" }
  end
  local lines = {}
  local function row(label, value)
    if value ~= nil and value ~= "" then
      lines[#lines + 1] = ("%-13s %s"):format(label, value)
    end
  end
  row("state", get(s, "state"))
  local model = get(s, "model")
  local quant = get(s, "quant")
  row("model", model and (quant and ("%s (%s)"):format(model, quant) or model))
  row("error", get(s, "error"))
  local percent = num(get(s, "progress", "percent"))
  if percent then
    row("download", ("%.0f%% of %s"):format(percent, bytes(num(get(s, "progress", "total_bytes")), MIB, "MiB")))
  end
  local device = M.device(s)
  local layers = num(get(s, "gpu_layers")) or num(get(s, "loaded_gpu_layers"))
  local total_layers = num(get(s, "total_layers"))
  if device == "gpu" then
    local offload = layers and (total_layers and ("%d/%d layers"):format(layers, total_layers) or ("%d layers"):format(layers))
    row("device", "GPU" .. (offload and (", " .. offload) or ""))
  elseif device == "cpu" then
    row("device", "CPU")
  end
  if get(s, "vram") ~= nil then
    local used, total = process_vram(s), num(get(s, "vram", "gpu_total_bytes"))
    local text = bytes(used, GIB, "GiB") .. (total and (" of " .. bytes(total, GIB, "GiB")) or "")
    local gpu_name = get(s, "vram", "gpu_name")
    if gpu_name then
      text = text .. " on " .. gpu_name
    end
    row("vram", text)
    local predicted = num(get(s, "vram", "predicted_bytes"))
    local err = num(get(s, "vram", "prediction_error"))
    if predicted then
      row("predicted", bytes(predicted, GIB, "GiB") .. (err and (" (%+.0f%%)"):format(err * 100) or ""))
    end
  end
  local rss = num(get(s, "rss_bytes"))
  row("memory", rss and (bytes(rss, MIB, "MiB") .. " resident"))
  local tps = num(get(s, "tokens_per_s"))
  row("speed", tps and ("%.0f tokens/s"):format(tps))
  local latency = num(get(s, "last_latency_ms"))
  row("latency", latency and ("%.0f ms (last completion)"):format(latency))
  local reuse = num(get(s, "prompt_reuse"))
  row("prompt reuse", reuse and ("%.0f%%"):format(reuse * 100))
  row("context", num(get(s, "n_ctx")) and (get(s, "n_ctx") .. " tokens"))
  if get(s, "n_ctx") ~= nil then
    row("FIM", get(s, "fim") or "none (prefix-only)")
  end
  row("queue", num(get(s, "queue_depth")))
  local counters = get(s, "counters")
  if type(counters) == "table" then
    local fields = {}
    for _, key in ipairs({ "completed", "cancelled", "superseded", "preempted", "failed" }) do
      local v = num(get(counters, key))
      if v then
        fields[#fields + 1] = ("%d %s"):format(v, key)
      end
    end
    local requests = num(get(counters, "requests"))
    if requests then
      row("requests", ("%d (%s)"):format(requests, table.concat(fields, ", ")))
    end
  end
  row("gpu plan", get(s, "gpu_plan"))
  local notes = get(s, "load_notes")
  if type(notes) == "table" then
    for _, note in ipairs(notes) do
      row("note", tostring(note))
    end
  end
  return lines
end

return M
