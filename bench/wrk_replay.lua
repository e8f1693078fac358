-- Replays pre-signed requests from a file (one "signature<TAB>body" per line), each once
-- per run, split between wrk's threads. Set REQUESTS_FILE and PATH_ in the environment;
-- SIG_HEADER and CONTENT_TYPE default to Twilio's (X-Twilio-Signature, a form).
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
