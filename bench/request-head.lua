-- wrk script for bench/request-head.ts: POSTs WRK_BODY with the header lines in WRK_HEADERS
-- (a JSON object of names and values, flat strings only).
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
for name, value in string.gmatch(os.getenv("WRK_HEADERS"), '"([^"]+)":"([^"]*)"') do
  wrk.headers[name] = value
end
