-- POST /v1/invites, each to a new recipient: BENCH_TAG (unique per run),
-- the thread and a counter make the address. Inviters inviter0 …
-- inviter<BENCH_INVITERS - 1> take turns.

local tag = os.getenv("BENCH_TAG")
local inviters = tonumber(os.getenv("BENCH_INVITERS"))
local count = 0

function request()
  count = count + 1
  local to = "g" .. tag .. "-" .. tid .. "-" .. count .. "@example.org"
  return wrk.format("POST", "/v1/invites", headers,
    '{"inviter":"inviter' .. (count % inviters) .. '","identifier":"' .. to ..
    '","chat":{"id":"chat_' .. tag .. "_" .. tid .. "_" .. count .. '","kind":"one_on_one"}}')
end
