--- Options of require("codehearth").setup() and their defaults.
local M = {}

---@class codehearth.Keymaps
---@field accept string|false   insert mode: accept the shown suggestion (falls through when none)
---@field dismiss string|false  insert mode: hide the shown suggestion (falls through when none)
---@field accept_word string|false  insert mode: accept the next word of it (falls through)
---@field accept_line string|false  insert mode: accept its first line (falls through)
---@field next string|false     insert mode: next suggestion
---@field prev string|false     insert mode: previous suggestion

---@class codehearth.Config
M.defaults = {
  -- The server command; one process serves every buffer (one model stays resident).
  cmd = { "codehearth", "serve" },
  -- Buffers of these filetypes get the server attached.
  filetypes = {
    "python", "lua", "javascript", "javascriptreact", "typescript", "typescriptreact",
    "go", "rust", "c", "cpp", "objc", "java", "kotlin", "scala", "cs", "swift", "zig",
    "ruby", "php", "perl", "sh", "bash", "zsh", "fish", "sql", "html", "css", "scss",
    "vue", "svelte", "elixir", "erlang", "haskell", "ocaml", "r", "julia", "dart",
    "nim", "toml", "yaml", "json", "make", "cmake", "dockerfile", "vim",
  },
  -- Sent as LSP initializationOptions (model, manifest, completion = {...}, ...);
  -- see docs/protocol.md of the server.
  init_options = {},
  -- Files that mark a project root (sent as the workspace folder); cwd otherwise.
  root_markers = { ".git", "pyproject.toml", "package.json", "go.mod", "Cargo.toml" },
  -- Native LSP inline completion (ghost text) in attached buffers.
  inline_completion = true,
  ---@type codehearth.Keymaps
  keymaps = {
    accept = "<Tab>",
    dismiss = "<C-]>",
    accept_word = "<M-Right>",
    accept_line = "<M-Down>",
    next = "<M-]>",
    prev = "<M-[>",
  },
  -- Per-command sampling overrides sent to the server, e.g. { temperature = 0.2, max_tokens = 256 }.
  sampling = { explain = nil, chat = nil, review = nil },
  float = { border = "rounded", max_width = 100, max_height = 30 },
  -- Where :CodehearthChat opens its buffer: "vsplit", "split", "tab" or "current".
  chat = { open = "vsplit" },
  -- While the model loads, poll codehearth.status this often (ms) until the server
  -- pushes codehearth/status itself; 0 disables polling.
  status_poll_ms = 1000,
  icon = "⬢",
}

---@type codehearth.Config
M.values = vim.deepcopy(M.defaults)

--- Lists (cmd, filetypes, root_markers) replace the defaults instead of being merged
--- index by index, which is what tbl_deep_extend would do.
local REPLACE = { cmd = true, filetypes = true, root_markers = true }

---@param opts? table
---@return codehearth.Config
function M.set(opts)
  opts = opts or {}
  local merged = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts)
  for key in pairs(REPLACE) do
    if opts[key] ~= nil then
      merged[key] = opts[key]
    end
  end
  M.values = merged
  return merged
end

return M
