-- User commands of codehearth. They load the Lua module on first use, so a plugin
-- manager may lazy-load on these commands; the server starts from setup().
if vim.g.loaded_codehearth then
  return
end
vim.g.loaded_codehearth = true

local function ranged(opts)
  if opts.range > 0 then
    return opts.line1, opts.line2
  end
end

vim.api.nvim_create_user_command("CodehearthExplain", function(opts)
  require("codehearth").explain(ranged(opts))
end, { range = true, desc = "codehearth: explain the selection (or the definition at the cursor)" })

vim.api.nvim_create_user_command("CodehearthChat", function(opts)
  local line1, line2 = ranged(opts)
  require("codehearth").chat(opts.args, line1, line2)
end, { range = true, nargs = "*", desc = "codehearth: chat (a range attaches code)" })

vim.api.nvim_create_user_command("CodehearthReview", function(opts)
  require("codehearth").review(ranged(opts))
end, { range = true, desc = "codehearth: review the buffer (or range) into the quickfix list" })

vim.api.nvim_create_user_command("CodehearthStatus", function()
  require("codehearth").show_status()
end, { desc = "codehearth: show the server status" })

vim.api.nvim_create_user_command("CodehearthCancel", function()
  require("codehearth").cancel()
end, { desc = "codehearth: stop streaming replies" })
