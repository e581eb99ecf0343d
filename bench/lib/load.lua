-- wrk script for the Portcullis benchmark. Configured by environment variables, read when the
-- script loads (wrk decides whether requests are static before init() runs):
--   BENCH_MODE   get | post | bearer | introspect | exchange | dpop
--   BENCH_PATH   request path (get, post, bearer, introspect; authorize URL for exchange)
--   BENCH_AUTH   Authorization header value (post, introspect, exchange's token request)
--   BENCH_BODY   form body (post)
--   BENCH_FILE   file with one token per line (bearer, introspect): requests cycle through them
--   BENCH_CURSOR file keeping where the cycle through BENCH_FILE stopped: the next run goes on
--                from there instead of from the first token (so, with more tokens than a cache
--                holds, no token is seen again while it could still be cached)
--   BENCH_TOKEN_PATH, BENCH_TOKEN_BODY  exchange: token endpoint and body with CODE in place of the code
--   dpop: GET BENCH_PATH with `Authorization: DPoP <BENCH_TOKEN>` and a `DPoP` header, the next
--         line of BENCH_FILE (one proof a line, each used once: a server refuses a replayed
--         proof). The file is read a line per request, not loaded; BENCH_CURSOR keeps the byte
--         offset reached. At the end of the file it starts over (replays: the server's 401s show
--         up as errors) and counts it in "wraps".
-- done() prints one line: BENCH_RESULT {json}.

local mode = os.getenv("BENCH_MODE") or "get"
local path = os.getenv("BENCH_PATH") or "/"
local auth = os.getenv("BENCH_AUTH")
local form = "application/x-www-form-urlencoded"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local function headers(extra)
  local h = {}
  if auth then h["Authorization"] = auth end
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

if mode == "get" then
  wrk.method = "GET"
  wrk.path = path
  wrk.headers = headers()
elseif mode == "post" then
  wrk.method = "POST"
  wrk.path = path
  wrk.headers = headers({ ["Content-Type"] = form })
  wrk.body = os.getenv("BENCH_BODY")
elseif mode == "bearer" or mode == "introspect" then
  local reqs = {}
  local file = os.getenv("BENCH_FILE")
  -- Built in init(): wrk sets the Host header only after the script has loaded.
  function init(args)
    if not file then return end
    for line in io.lines(file) do
      if line ~= "" then
        if mode == "bearer" then
          reqs[#reqs + 1] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. line })
        else
          local body = "token=" .. line .. "&token_type_hint=access_token"
          reqs[#reqs + 1] = wrk.format("POST", path, headers({ ["Content-Type"] = form }), body)
        end
      end
    end
  end
  local cursorFile = os.getenv("BENCH_CURSOR")
  -- A global, so done() can read it with thread:get.
  cursor = 0
  if cursorFile then
    local f = io.open(cursorFile, "r")
    if f then
      cursor = tonumber(f:read("*l") or "0") or 0
      f:close()
    end
  end
  request = function()
    if #reqs == 0 then return wrk.format() end
    cursor = cursor % #reqs + 1
    return reqs[cursor]
  end
elseif mode == "dpop" then
  local file = os.getenv("BENCH_FILE")
  local token = os.getenv("BENCH_TOKEN") or ""
  local cursorFile = os.getenv("BENCH_CURSOR")
  -- Globals, so done() can read them with thread:get: the byte offset reached, and wraps.
  cursor = 0
  wraps = 0
  if cursorFile then
    local f = io.open(cursorFile, "r")
    if f then
      cursor = tonumber(f:read("*l") or "0") or 0
      f:close()
    end
  end
  local fh
  function init(args)
    if not file then return end
    fh = io.open(file, "r")
    fh:seek("set", cursor)
  end
  request = function()
    if not fh then return wrk.format() end
    local line = fh:read("*l")
    if not line or line == "" then
      wraps = wraps + 1
      fh:seek("set", 0)
      cursor = 0
      line = fh:read("*l") or ""
    end
    cursor = cursor + #line + 1
    return wrk.format("GET", path, { ["Authorization"] = "DPoP " .. token, ["DPoP"] = line })
  end
elseif mode == "exchange" then
  -- The whole code flow per exchange: GET the authorization URL (the server approves at once and
  -- answers 302 with a code), then POST the code to the token endpoint. Codes from any
  -- connection's 302 go on a stack; a connection sends a token request when one is waiting,
  -- otherwise an authorization request.
  local tokenPath = os.getenv("BENCH_TOKEN_PATH") or "/oauth/token"
  local tokenBody = os.getenv("BENCH_TOKEN_BODY") or ""
  local tokenHeaders, authorizeReq
  function init(args)
    tokenHeaders = headers({ ["Content-Type"] = form, ["Host"] = wrk.headers["Host"] })
    authorizeReq = wrk.format("GET", path, {})
  end
  local codes = {}
  exchanges = 0
  failures = 0
  request = function()
    local n = #codes
    if n > 0 then
      local code = codes[n]
      codes[n] = nil
      return wrk.format("POST", tokenPath, tokenHeaders, (tokenBody:gsub("CODE", code)))
    end
    return authorizeReq or wrk.format()
  end
  response = function(status, hdrs, body)
    if status == 302 then
      local loc = hdrs["Location"] or hdrs["location"]
      local code = loc and loc:match("[?&]code=([^&]+)")
      if code then
        codes[#codes + 1] = code
      else
        failures = failures + 1
      end
    elseif status == 200 then
      exchanges = exchanges + 1
    else
      failures = failures + 1
    end
  end
end

function done(summary, latency, requests)
  local cursorFile = os.getenv("BENCH_CURSOR")
  if cursorFile and threads[1] then
    local f = io.open(cursorFile, "w")
    if f then
      f:write(tostring(threads[1]:get("cursor") or 0), "\n")
      f:close()
    end
  end
  local ex, fl, wr = 0, 0, 0
  if mode == "dpop" then
    for _, t in ipairs(threads) do wr = wr + (t:get("wraps") or 0) end
  end
  if mode == "exchange" then
    for _, t in ipairs(threads) do
      ex = ex + (t:get("exchanges") or 0)
      fl = fl + (t:get("failures") or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"exchanges":%d,"exchange_failures":%d,"wraps":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, ex, fl, wr))
end
