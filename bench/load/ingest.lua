-- wrk script: POST NDJSON batches of 50 loghub-like lines to /api/v1/ingest.
-- Lines come from tests/data/loghub-2k (LOAD_LINES file, see
-- load_test.sh); each request takes the next 50, wrapping around.
local lines = {}
local path = os.getenv("LOAD_LINES")
for l in io.lines(path) do
  lines[#lines + 1] = l
end
local pos = 1
local token = os.getenv("LOAD_TOKEN")

local function esc(s)
  return (s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end))
end

request = function()
  local parts = {}
  for i = 1, 50 do
    parts[i] = '{"message":"' .. esc(lines[pos]) .. '","service":"load"}\n'
    pos = pos % #lines + 1
  end
  local headers = {["Content-Type"] = "application/x-ndjson"}
  if token and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  return wrk.format("POST", "/api/v1/ingest", headers, table.concat(parts))
end

