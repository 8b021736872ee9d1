-- Replays pre-built POST bodies (one JSON document per line of a file) and checks every
-- MOSIP envelope: success carries "errors":null; a failure lists its errors, also with
-- HTTP 200, so the status code alone would count failures as successes.
--
-- Usage: wrk -s bench/lua/bodies.lua <url> -- <bodies file> <bearer token|-> <threads> <cycle|once|single>
--   Thread i of n sends lines i, i+n, i+2n, ... of the file. "cycle" starts over at the
--   end (validate); "once" also starts over but counts it in "wrapped" (for registration
--   every body must be used once: a replayed one is a duplicate serial); "single" stops each
--   thread once it has an answer for each of its lines (a storm of first connections).
-- At the end it prints one line: BENCH {json}, which bench/wrk.py parses.
--
-- A line that does not start with "{" is a whole request, four tab-separated fields:
--   METHOD <tab> /path?query <tab> Authorization header value or "-" <tab> body (may be empty)
-- (bench/device_side.py uses it for per-request HTTP Basic pairs and per-device paths); its
-- Authorization replaces the bearer token given on the command line.

local threads = {}

-- Wall-clock microseconds. wrk's Lua has no such clock (os.time counts seconds), and wrk's
-- own duration is always the -d it was given, so a "single" pass times itself with date(1);
-- it is read twice per thread, outside the measured requests' critical path.
local function now_us()
  local pipe = io.popen("date +%s%6N")
  local text = pipe:read("*l")
  pipe:close()
  return tonumber(text)
end
-- What a success answer contains: MOSIP's envelope by default; bench/device_side.py sets
-- BENCH_MATCH for its endpoints.
needle = os.getenv("BENCH_MATCH") or '"errors":null'
local created = 0

function setup(thread)
  thread:set("id", created)
  created = created + 1
  table.insert(threads, thread)
end

local function request_line(line)
  local method, path, auth, body = string.match(line, "^([^\t]*)\t([^\t]*)\t([^\t]*)\t?(.*)$")
  if method == nil then
    error("bad request line: " .. line)
  end
  local headers = {}
  for k, v in pairs(wrk.headers) do
    headers[k] = v
  end
  if auth ~= "-" then
    headers["Authorization"] = auth
  end
  if body == "" then
    headers["Content-Type"] = nil -- still sent with "Content-Length: 0"
  end
  return wrk.format(method, path, headers, body)
end

function init(args)
  local path, token, nthreads = args[1], args[2], tonumber(args[3])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if token ~= nil and token ~= "-" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
  reqs = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == id then
      if string.sub(line, 1, 1) == "{" then
        reqs[#reqs + 1] = wrk.format(nil, nil, nil, line)
      else
        reqs[#reqs + 1] = request_line(line)
      end
    end
    i = i + 1
  end
  nreqs = #reqs
  single = args[4] == "single"
  started_us = single and now_us() or 0
  finished_us = 0
  pos = 0
  ok = 0
  bad = 0
  wrapped = 0
  sample = ""
end

function request()
  pos = pos + 1
  if pos > nreqs then
    pos = 1
    wrapped = wrapped + 1
  end
  return reqs[pos]
end

function response(status, headers, body)
  if status == 200 and string.find(body, needle, 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
    if sample == "" then
      sample = string.sub(tostring(status) .. " " .. (body or ""), 1, 400)
    end
  end
  if single and finished_us == 0 and ok + bad >= nreqs then
    -- One pass over this thread's lines, then stop; the pass's rate is over the time from
    -- the earliest thread's start to the latest one's last answer ("pass_us").
    finished_us = now_us()
    wrk.thread:stop()
  end
end

local function escape(text)
  return (string.gsub(text, '[%c"\\]', function(c)
    if c == '"' or c == "\\" then
      return "\\" .. c
    end
    return " "
  end))
end

function done(summary, latency, requests)
  local good, failed, wraps, first_bad = 0, 0, 0, ""
  local first_start, last_finish = 0, 0
  for _, t in ipairs(threads) do
    local began, ended = t:get("started_us"), t:get("finished_us")
    if began > 0 and (first_start == 0 or began < first_start) then
      first_start = began
    end
    if ended > last_finish then
      last_finish = ended
    end
    good = good + t:get("ok")
    failed = failed + t:get("bad")
    wraps = wraps + t:get("wrapped")
    if first_bad == "" then
      first_bad = t:get("sample")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"ok":%d,"bad":%d,"wrapped":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,' ..
    '"timeouts":%d,"mean_us":%.1f,"max_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"pass_us":%d,"bad_sample":"%s"}\n',
    summary.requests, summary.duration, good, failed, wraps,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9),
    (last_finish > 0 and first_start > 0) and (last_finish - first_start) or 0,
    escape(first_bad)))
end
