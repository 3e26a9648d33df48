-- Records what Neovim sends in `initialize` when the codehearth plugin starts its server:
--   nvim --headless --clean --cmd "set rtp^=PLUGIN" -c "luafile record_nvim.lua"
-- Environment: CODEHEARTH_CMD (JSON list: record_initialize.py and its output file),
-- CODEHEARTH_FILE (a Python file to open). Run by record.py, which checks the output.
local env = vim.env
local client = require("codehearth.client")

require("codehearth").setup({ cmd = vim.json.decode(env.CODEHEARTH_CMD) })
vim.cmd.edit(vim.fn.fnameescape(env.CODEHEARTH_FILE))

local function done()
  local c = client.get()
  return c ~= nil and c.initialized
end

vim.wait(20000, done, 50)
for _, c in ipairs(vim.lsp.get_clients()) do
  c:stop()
end
vim.wait(5000, function()
  return #vim.lsp.get_clients() == 0
end, 50)
vim.cmd("qall!")
