-- wrk script for bench/compare.sh: the same non-streamed chat request on every call.
-- The JSON body comes from $WRK_BODY and the bearer token from $WRK_API_KEY. No
-- response() hook: defining one makes wrk parse every response in Lua, and wrk already
-- counts "Non-2xx or 3xx responses" itself.
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("WRK_API_KEY") or "bench")
