-- wrk script of the benchmark harness (bench/harness.py): POSTs the requests of one file in
-- turn, counts answers that carry GraphQL errors, and prints one JSON line when done.
--
-- The file (path in BENCH_WRK_REQUESTS) holds one request a line: the Authorization header's
-- value (may be empty), a tab, then the JSON body. Each thread starts at its own offset.

local path = os.getenv("BENCH_WRK_REQUESTS")
local prepared = {}
local sent = 0
local threads = {}

-- Read by done() through thread:get(), so a global of each thread's Lua state.
graphql_errors = 0

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(path) do
    local authorization, body = line:match("^([^\t]*)\t(.*)$")
    if body ~= nil then
      local headers = { ["Content-Type"] = "application/json" }
      if authorization ~= "" then
        headers["Authorization"] = authorization
      end
      prepared[#prepared + 1] = wrk.format("POST", nil, headers, body)
    end
  end
  if #prepared == 0 then
    error("no request in " .. tostring(path))
  end
  sent = (thread_number or 0) * 7919 % #prepared
end

function request()
  sent = sent + 1
  return prepared[(sent - 1) % #prepared + 1]
end

function response(status, headers, body)
  if body ~= nil and body:find('"errors"', 1, true) then
    graphql_errors = graphql_errors + 1
  end
end

function done(summary, latency, requests)
  local counted = 0
  for _, thread in ipairs(threads) do
    counted = counted + (thread:get("graphql_errors") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"graphql_errors":%d,' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    counted,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean
  ))
end
