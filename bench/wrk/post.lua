-- The load of the performance runs: the same JSON body on every request.
--
-- Environment: BENCH_BODY (the body), BENCH_OUT (where done() writes its JSON summary).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

statuses = {}

-- Counting answers by status costs a Lua call per response (microseconds), so the 5xx are
-- known exactly instead of hidden among wrk's "non-2xx or 3xx" total.
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local result = report.summarise(summary, latency)
  result.statuses = report.sum_counters(threads, "statuses")
  report.write(os.getenv("BENCH_OUT"), result)
end
