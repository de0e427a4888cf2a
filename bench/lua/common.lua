-- Shared by the bench's wrk scripts (prepended to each). The bench passes
-- what the scripts need in the environment:
--   BENCH_NODES  comma-separated host:port of the servers; wrk's threads
--                are spread over them in turn (thread i → node i mod n)
--   BENCH_KEY    the API key ("" for the bare server)
-- and prints one line per run, parsed by bench/wrk.go:
--   WRK <requests> <duration µs> <p50 µs> <p99 µs> <non-2xx> <socket errors>

local nodes = {}
for hostport in string.gmatch(os.getenv("BENCH_NODES") or "", "[^,]+") do
  local host, port = string.match(hostport, "^(.+):(%d+)$")
  nodes[#nodes + 1] = wrk.lookup(host, port)[1]
end
local threads = 0

function setup(thread)
  thread.addr = nodes[(threads % #nodes) + 1]
  thread:set("tid", threads)
  threads = threads + 1
end

local key = os.getenv("BENCH_KEY") or ""
headers = { ["Content-Type"] = "application/json" }
if key ~= "" then
  headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
