-- Formats status objects with the plugin's pure functions (no server, no UI):
--   nvim --clean -l format_status.lua PLUGIN_DIR CASES_JSON OUT_JSON
-- CASES_JSON is a list of status objects (null → vim.NIL, as over LSP); OUT_JSON gets
-- {statusline = [...], details = [[...], ...]} in the same order.
local plugin, cases_path, out_path = _G.arg[1], _G.arg[2], _G.arg[3]
package.path = plugin .. "/lua/?.lua;" .. plugin .. "/lua/?/init.lua;" .. package.path
local status = require("codehearth.status")

local cases = vim.json.decode(assert(io.open(cases_path)):read("*a"))
local out = { statusline = {}, details = {} }
for i, case in ipairs(cases) do
  out.statusline[i] = status.format(case)
  out.details[i] = status.details(case)
end
out.statusline_nil = status.format(nil)
local f = assert(io.open(out_path, "w"))
f:write(vim.json.encode(out))
f:close()
