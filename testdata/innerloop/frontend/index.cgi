#!/bin/sh
# Served for "/": fetches the web app through its Service and relays the answer.
if body=$(wget -q -T 3 -O - http://webservice/ 2>&1); then
  printf 'Content-Type: text/plain\r\n\r\n%s\n' "$body"
else
  printf 'Status: 502 Bad Gateway\r\nContent-Type: text/plain\r\n\r\nfrontend: webservice unavailable: %s\n' "$body"
fi
