#!/bin/sh
# The edge's container command (compose): the purge token into the VCL, then
# varnishd in the foreground on port 8000.
set -eu
: "${KHABAR_EDGE_PURGE_TOKEN:?set KHABAR_EDGE_PURGE_TOKEN (URL-safe characters) in .env}"
case "$KHABAR_EDGE_PURGE_TOKEN" in
  *[!A-Za-z0-9_.~-]*) echo "KHABAR_EDGE_PURGE_TOKEN: use URL-safe characters only" >&2; exit 2 ;;
esac
# Rationing of each client's misses and fetched errors (khabar.vcl); 0 turns a limit off.
: "${KHABAR_EDGE_THROTTLE_MISSES:=120}" "${KHABAR_EDGE_THROTTLE_ERRORS:=30}"
: "${KHABAR_EDGE_THROTTLE_PERIOD_S:=10}" "${KHABAR_EDGE_THROTTLE_BLOCK_S:=30}"
for setting in KHABAR_EDGE_THROTTLE_MISSES KHABAR_EDGE_THROTTLE_ERRORS \
    KHABAR_EDGE_THROTTLE_PERIOD_S KHABAR_EDGE_THROTTLE_BLOCK_S; do
  eval "value=\$$setting"
  case "$value" in
    ''|*[!0-9]*) echo "$setting: a whole number, not '$value'" >&2; exit 2 ;;
  esac
done
if [ "$KHABAR_EDGE_THROTTLE_PERIOD_S" -eq 0 ]; then
  echo "KHABAR_EDGE_THROTTLE_PERIOD_S: at least 1" >&2; exit 2
fi
sed -e "s/@KHABAR_EDGE_PURGE_TOKEN@/$KHABAR_EDGE_PURGE_TOKEN/" \
  -e "s/@KHABAR_EDGE_THROTTLE_MISSES@/$KHABAR_EDGE_THROTTLE_MISSES/" \
  -e "s/@KHABAR_EDGE_THROTTLE_ERRORS@/$KHABAR_EDGE_THROTTLE_ERRORS/" \
  -e "s/@KHABAR_EDGE_THROTTLE_PERIOD_S@/$KHABAR_EDGE_THROTTLE_PERIOD_S/" \
  -e "s/@KHABAR_EDGE_THROTTLE_BLOCK_S@/$KHABAR_EDGE_THROTTLE_BLOCK_S/" \
  /etc/varnish/khabar/compose.vcl.in > /tmp/edge.vcl
# khabar_self: the socket the edge asks itself on to assemble pages (khabar.vcl).
# http_req_size: read a long URL whole, so khabar.vcl answers 414 rather than a reset
# (khabar_dev/edge.py's REQUEST_LIMITS, the same).
# vsl_mask: varnishd's default mask, and no shared-memory log records for every answer's
# headers, VCL subs, unsets, protocol, reason and hit: nothing reads them, and they were
# most of a cached hit's records (khabar_dev/edge.py's VSL_MASK, the same). varnishncsa's
# default line keeps what it needs; `varnishadm param.set vsl_mask +RespHeader` brings one back.
exec varnishd -F -f /tmp/edge.vcl -a :8000 -a khabar_self=/tmp/khabar-self.sock \
  -s "malloc,${KHABAR_EDGE_CACHE_SIZE:-256m}" \
  -p http_req_size=64k -p workspace_client=128k \
  -p vsl_mask=-Debug,-ObjProtocol,-ObjStatus,-ObjReason,-ObjHeader,-VCL_trace,-ExpKill,-WorkThread,-Hash,-VfpAcct,-H2RxHdr,-H2RxBody,-H2TxHdr,-H2TxBody,-VdpAcct,-RespHeader,-RespUnset,-ReqUnset,-RespProtocol,-RespReason,-VCL_call,-VCL_return,-Hit
