-- POST /v1/resolve with the bench's mix (bench/run.go: query): 40% hits by
-- email, 20% hits by national-format phone, 25% misses, 15% un-normalised
-- hits; requesters are random accounts. BENCH_ACCOUNTS is the number seeded.

local n = tonumber(os.getenv("BENCH_ACCOUNTS"))

function init(args)
  math.randomseed(1000 + tid)
end

function request()
  local i = math.random(0, n - 1)
  local requester = math.random(0, n - 1)
  local p = math.random(0, 99)
  local id
  if p < 40 then
    id = "user" .. i .. "@example.com"
  elseif p < 60 then
    local d = string.format("%08d", i - i % 2)
    id = "06 " .. d:sub(1, 2) .. " " .. d:sub(3, 4) .. " " .. d:sub(5, 6) .. " " .. d:sub(7, 8)
  elseif p < 85 then
    id = "nobody" .. i .. "@example.org"
  else
    id = "  User" .. i .. " <USER" .. i .. "@Example.COM> "
  end
  return wrk.format("POST", "/v1/resolve", headers,
    '{"requester":"u' .. requester .. '","identifier":"' .. id .. '","region":"FR"}')
end
