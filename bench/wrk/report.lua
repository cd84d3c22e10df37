-- Shared by the wrk scripts: status counting per thread and a JSON summary for run.py.
--
-- wrk runs one Lua state per thread plus one for setup() and done(); done() reaches the
-- threads' counters through the thread objects that setup() kept.

local M = {}

local function encode(value)
  local kind = type(value)
  if kind == "number" then
    if value ~= value or value == math.huge or value == -math.huge then
      return "null"
    end
    return string.format("%.17g", value)
  elseif kind == "string" then
    return '"' .. value:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
    end) .. '"'
  elseif kind == "boolean" then
    return tostring(value)
  elseif kind == "table" then
    local parts = {}
    if #value > 0 or next(value) == nil and getmetatable(value) == M.array then
      for _, item in ipairs(value) do
        parts[#parts + 1] = encode(item)
      end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    for key, item in pairs(value) do
      parts[#parts + 1] = encode(tostring(key)) .. ":" .. encode(item)
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return "null"
end

-- Marks a table as a JSON array even when it is empty.
M.array = {}

function M.new_array()
  return setmetatable({}, M.array)
end

M.encode = encode

-- Adds up a per-thread table of counters ({[key] = n}) over every thread.
function M.sum_counters(threads, name)
  local total = {}
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get(name) or {}) do
      local k = tostring(key)
      total[k] = (total[k] or 0) + count
    end
  end
  return total
end

-- The wrk summary and latency percentiles (wrk keeps microseconds; we report ms).
function M.summarise(summary, latency)
  local seconds = summary.duration / 1e6
  return {
    requests = summary.requests,
    duration_s = seconds,
    requests_per_s = summary.requests / seconds,
    latency_ms = {
      p50 = latency:percentile(50) / 1000,
      p90 = latency:percentile(90) / 1000,
      p95 = latency:percentile(95) / 1000,
      p99 = latency:percentile(99) / 1000,
      max = latency.max / 1000,
      mean = latency.mean / 1000,
    },
    socket_errors = {
      connect = summary.errors.connect,
      read = summary.errors.read,
      write = summary.errors.write,
      timeout = summary.errors.timeout,
    },
    status_errors = summary.errors.status,
  }
end

function M.write(path, value)
  local file = assert(io.open(path, "w"))
  file:write(encode(value), "\n")
  file:close()
end

return M
