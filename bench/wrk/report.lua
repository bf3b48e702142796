-- PATCH a distinct seeded run with every request: run i of connection (i mod connections),
-- thread t of T taking i = t, t + T, t + 2T, ... and stopping when its share is used up.
-- wrk ... -s report.lua -- <org> <id format> <connections> <run prefix> <runs seeded> <threads>
--                          <completed_at> <token>
dofile("summary.lua")

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local org, id_format, count, prefix, seeded, step, body, i

function init(args)
  org, id_format, count, prefix = args[1], args[2], tonumber(args[3]), args[4]
  seeded, step = tonumber(args[5]), tonumber(args[6])
  wrk.headers["Authorization"] = "Bearer " .. args[8]
  wrk.headers["Content-Type"] = "application/json"
  body = '{"completed_at": "' .. args[7] .. '", "events_delivered": 120, ' ..
    '"events_by_type": {"evaluations": 20, "custom_events": 100}, "batches_dlq": 0, "error": null, ' ..
    '"latency_ms": 900, "events_pending": 3}'
  i = thread_index
  exhausted = false
end

function request()
  local run = i
  if run >= seeded then
    -- Out of seeded runs: stop, repeating the previous (identical, no-op) report meanwhile.
    exhausted = true
    wrk.thread:stop()
    run = run - step
  else
    i = i + step
  end
  local cid = string.format(id_format, run % count)
  local path = "/api/v1/organisations/" .. org .. "/integrations/warehouse-connections/" .. cid ..
    "/metrics/" .. prefix .. run .. "/"
  return wrk.format("PATCH", path, nil, body)
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
