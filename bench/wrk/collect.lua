-- The load of the correctness run: POST for BENCH_POST_SECONDS, then harmless GETs.
--
-- wrk ends at its -d deadline without reading the answers still in flight. Requests cut
-- that way would have created orders (rows, events) whose 201 nobody saw. So each thread
-- posts only until its own deadline and then asks GET /orders/bench-drain (a 404 that
-- touches no table) until wrk stops: every POST is answered while wrk still listens.
-- posts_sent against posts_answered proves it.
--
-- Environment: BENCH_BODY, BENCH_OUT, BENCH_POST_SECONDS.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")
local ffi = require("ffi")

ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]])

local CLOCK_MONOTONIC = 1
local DRAIN_MARK = "bench-drain"
local timespec = ffi.new("bench_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("first_thread", #threads == 1)
end

posts_sent = 0
posts_answered = 0
drains = 0
statuses = {}
ids = {}
first_thread = false
local post_until, post_request, drain_request, verified

function init(args)
  post_until = now() + tonumber(os.getenv("BENCH_POST_SECONDS"))
  post_request = wrk.format(
    "POST", nil, { ["Content-Type"] = "application/json" }, os.getenv("BENCH_BODY")
  )
  drain_request = wrk.format("GET", "/orders/" .. DRAIN_MARK)
end

function request()
  -- wrk calls the first thread's request() once before the run, to see how many requests
  -- it returns; that one is never sent.
  if first_thread and not verified then
    verified = true
    return post_request
  end
  if now() < post_until then
    posts_sent = posts_sent + 1
    return post_request
  end
  return drain_request
end

function response(status, headers, body)
  if status == 404 and body:find(DRAIN_MARK, 1, true) then
    drains = drains + 1
    return
  end
  posts_answered = posts_answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then
    ids[#ids + 1] = body:match('"orderId"%s*:%s*"([%x%-]+)"') or ("unparsed:" .. body)
  end
end

function done(summary, latency, requests)
  local result = report.summarise(summary, latency)
  result.statuses = report.sum_counters(threads, "statuses")
  result.post_seconds = tonumber(os.getenv("BENCH_POST_SECONDS"))
  result.posts_sent, result.posts_answered, result.drains = 0, 0, 0
  result.order_ids = report.new_array()
  for _, thread in ipairs(threads) do
    result.posts_sent = result.posts_sent + thread:get("posts_sent")
    result.posts_answered = result.posts_answered + thread:get("posts_answered")
    result.drains = result.drains + thread:get("drains")
    for _, id in ipairs(thread:get("ids")) do
      result.order_ids[#result.order_ids + 1] = id
    end
  end
  report.write(os.getenv("BENCH_OUT"), result)
end
