-- wrk script: GET searches rotating over a few queries.
local queries = {"error", "service:load", "failed AND password",
                 "connection NOT closed", "*"}
local i = 0
local token = os.getenv("LOAD_TOKEN")
request = function()
  i = i % #queries + 1
  local headers = {}
  if token and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  return wrk.format("GET", "/api/v1/search?limit=20&q=" ..
                    queries[i]:gsub(" ", "%%20"):gsub(":", "%%3A"), headers)
end
