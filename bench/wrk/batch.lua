-- POST batches of distinct seeded runs to /api/v1/runs/reports/, numbered as in report.lua.
-- wrk ... -s batch.lua -- <org> <id format> <connections> <run prefix> <runs seeded> <threads>
--                         <completed_at> <batch size> <token>
dofile("summary.lua")

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local org, id_format, count, prefix, seeded, step, completed_at, size, i

function init(args)
  org, id_format, count, prefix = tonumber(args[1]), args[2], tonumber(args[3]), args[4]
  seeded, step, completed_at, size = tonumber(args[5]), tonumber(args[6]), args[7], tonumber(args[8])
  wrk.headers["Authorization"] = "Bearer " .. args[9]
  wrk.headers["Content-Type"] = "application/json"
  i = thread_index * size
  step = step * size
  exhausted = false
end

function request()
  local first = i
  if first + size > seeded then
    -- Out of seeded runs: stop, repeating the previous (identical, no-op) batch meanwhile.
    exhausted = true
    wrk.thread:stop()
    first = first - step
  else
    i = i + step
  end
  local items = {}
  for k = 0, size - 1 do
    local run = first + k
    items[k + 1] = '{"organisation_id": ' .. org .. ', "connection_id": "' ..
      string.format(id_format, run % count) .. '", "run_id": "' .. prefix .. run ..
      '", "completed_at": "' .. completed_at .. '", "events_delivered": 120, ' ..
      '"events_by_type": {"evaluations": 20, "custom_events": 100}, "batches_dlq": 0, ' ..
      '"error": null, "latency_ms": 900, "events_pending": 3}'
  end
  return wrk.format("POST", "/api/v1/runs/reports/", nil, "[" .. table.concat(items, ",") .. "]")
end

local base_done = done
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    if thread:get("exhausted") then
      io.write("BENCH_EXHAUSTED\n")
    end
  end
  base_done(summary, latency, requests)
end
