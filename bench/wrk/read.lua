-- GET a connection's URL, a random connection for every request.
-- wrk ... -s read.lua -- <path with %s for the id> <id format> <connections> <token>
dofile("summary.lua")

local template, id_format, count

function init(args)
  template, id_format, count = args[1], args[2], tonumber(args[3])
  wrk.headers["Authorization"] = "Bearer " .. args[4]
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  local id = string.format(id_format, math.random(0, count - 1))
  return wrk.format("GET", string.format(template, id))
end
