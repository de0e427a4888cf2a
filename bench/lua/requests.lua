-- POST /v1/requests/check (bench/requests.go). BENCH_PAIRS pairs i of
-- personal accounts were seeded: u(3i+1) → u(3i+2) accepted (which lets
-- the replies u(3i+2) → u(3i+1) through too); u(3i+2) → u(3i+4), between
-- two strangers, is a pending request (created by its first check, then
-- screened and counted: delivered up to the limit, held after). u(3i) are
-- colleagues in one tenant. BENCH_MIX picks the load:
--   accepted  only accepted pairs (reads)
--   pending   only the pending pairs: screened and counted while within the
--             limit, held without the screen after (most, after a few seconds)
--   new       a pair of strangers u(3i+2) → u(3j+1) drawn at random each time
--             (4 million pairs: almost every check is a pair's first one,
--             which creates the request, is screened and counted)
--   mix       70% accepted, 10% same tenant, 20% pending

local pairs = tonumber(os.getenv("BENCH_PAIRS"))
local mix = os.getenv("BENCH_MIX")
local count = 0

function init(args)
  math.randomseed(2000 + tid)
end

function request()
  count = count + 1
  local i = math.random(0, pairs - 1)
  local kind = mix
  if mix == "mix" then
    local p = math.random(0, 99)
    if p < 70 then kind = "accepted" elseif p < 80 then kind = "tenant" else kind = "pending" end
  end
  local s, r
  if kind == "accepted" then
    s, r = 3 * i + 1, 3 * i + 2
  elseif kind == "new" then
    s, r = 3 * i + 2, 3 * math.random(0, pairs - 1) + 1
  elseif kind == "tenant" then
    s, r = 3 * i, 3 * ((i + 1) % pairs)
  else
    s, r = 3 * i + 2, 3 * ((i + 1) % pairs) + 1
  end
  return wrk.format("POST", "/v1/requests/check", headers,
    '{"sender":"u' .. s .. '","recipient":"u' .. r .. '","chat_id":"c' .. i ..
    '","text":"hello ' .. count .. ', are you free for a call about the ' .. i .. ' report?"}')
end
