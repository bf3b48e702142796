-- POST the bulk metrics query for a random window of consecutive connection ids.
-- wrk ... -s bulk.lua -- <path> <id format> <connections> <ids per request> <token>
dofile("summary.lua")

local path, id_format, count, size

function init(args)
  path, id_format, count, size = args[1], args[2], tonumber(args[3]), tonumber(args[4])
  wrk.headers["Authorization"] = "Bearer " .. args[5]
  wrk.headers["Content-Type"] = "application/json"
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  local first = math.random(0, count - size)
  local ids = {}
  for i = 1, size do
    ids[i] = '"' .. string.format(id_format, first + i - 1) .. '"'
  end
  return wrk.format("POST", path, nil, '{"ids": [' .. table.concat(ids, ",") .. ']}')
end
