-- wrk script for bench/compare.py: the same request koorelease sends, built fresh every time.
--
--   wrk -t1 -c64 -d5s -s bench/wrk.lua https://127.0.0.1:PORT -- TOKEN_FILE [close]
--
-- POST /v1/instances/session/release with Content-Type, the token (read from TOKEN_FILE, so it is
-- never on a command line), a fresh UUIDv4 x-request-id and a fresh 40-byte body
-- {"instance_id":"i-<20 digits>"} per request. With "close", every request carries
-- "Connection: close" (the reconnect-heavy case). The fixed part of the request is formatted once
-- in init(); request() only appends what changes, which is the cheapest way to do this in wrk.
-- done() prints one line "wrk-json {...}" with wrk's own counts for compare.py to parse.

local path = "/v1/instances/session/release"
local prefix
local counter = 0
local random = math.random
local format = string.format

local function seed()
    local f = io.open("/dev/urandom", "rb")
    local s = 0
    if f then
        local b = f:read(6)
        f:close()
        for i = 1, #b do s = s * 256 + b:byte(i) end
    else
        s = os.time()
    end
    math.randomseed(s)
end

function init(args)
    local token_file = args[1]
    if not token_file then error("usage: wrk ... -s wrk.lua URL -- TOKEN_FILE [close]") end
    local f = assert(io.open(token_file, "rb"))
    local token = f:read("*l")
    f:close()
    local host = wrk.host
    if wrk.port then host = host .. ":" .. wrk.port end
    prefix = "POST " .. path .. " HTTP/1.1\r\n" ..
             "Host: " .. host .. "\r\n" ..
             "Content-Type: application/json\r\n" ..
             "x-auth-token: " .. token .. "\r\n" ..
             (args[2] == "close" and "Connection: close\r\n" or "") ..
             "Content-Length: 40\r\n" ..
             "x-request-id: "
    seed()
end

function request()
    counter = counter + 1
    -- UUIDv4: 122 random bits, version 4, variant 10xx.
    local id = format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
                      random(0, 65535), random(0, 65535), random(0, 65535), random(0, 4095),
                      random(32768, 49151), random(0, 65535), random(0, 65535), random(0, 65535))
    return prefix .. id .. format("\r\n\r\n{\"instance_id\":\"i-%020d\"}", counter)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(format('wrk-json {"requests":%d,"duration_us":%d,"bytes":%d,' ..
                    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
                    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p99.9":%d,"p99.99":%d,"max":%d}}\n',
                    summary.requests, summary.duration, summary.bytes,
                    e.connect, e.read, e.write, e.status, e.timeout,
                    latency:percentile(50), latency:percentile(90), latency:percentile(99),
                    latency:percentile(99.9), latency:percentile(99.99), latency.max))
end
