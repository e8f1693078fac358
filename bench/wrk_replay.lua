-- Replays pre-signed requests from a file (one "signature<TAB>body" per line), each once
-- per run, split between wrk's threads. Set REQUESTS_FILE and PATH_ in the environment;
-- SIG_HEADER and CONTENT_TYPE default to Twilio's (X-Twilio-Signature, a form).
-- DELAY_MS: each connection pauses about this long between requests (a steady offered
-- rate instead of as fast as the server answers). Each pause is drawn at random between
-- half and one and a half times it, so that the connections, which all start together,
-- do not keep sending in bursts of one request each.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = counter
  reqs = {}
  local i = 0
  for line in io.lines(os.getenv("REQUESTS_FILE")) do
    if i % tonumber(os.getenv("WRK_THREADS") or "2") == tid then
      local sig, body = line:match("([^\t]*)\t(.*)")
      table.insert(reqs, wrk.format("POST", os.getenv("PATH_"), {
        ["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/x-www-form-urlencoded",
        [os.getenv("SIG_HEADER") or "X-Twilio-Signature"] = sig,
      }, body))
    end
    i = i + 1
  end
  idx = 0
end

function request()
  idx = idx + 1
  if idx > #reqs then idx = 1 end
  return reqs[idx]
end

local pause = tonumber(os.getenv("DELAY_MS") or "0")
if pause > 0 then
  function delay()
    return pause * (0.5 + math.random())
  end
end
