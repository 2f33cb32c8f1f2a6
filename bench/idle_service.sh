#!/bin/bash
# One service process idle: its CPU from /proc over 30 s (docs/benchmarks.md, hand-measured part).
# <tree>: a checkout (the work tree, or `git archive <rev> | tar -x -C /tmp/oldtree`).
# usage: idle_service.sh <tree> <service> <port>; prints CPU % of one core while idle 30 s
TREE=$1; SVC=$2; PORT=$3; U=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
cd $TREE
export PYTHONPATH=.:proto MINSHENG_ENVIRONMENT=development MINSHENG_CLOCK=event \
  MINSHENG_TOPIC_PREFIX="idle$U." MINSHENG_PG_SCHEMA="idle_$U" MINSHENG_HTTP_PORT=$PORT \
  MINSHENG_GRPC_PORT=$((PORT+1)) MINSHENG_DATA=/work/main/.data MINSHENG_LOG_LEVEL=WARNING
/work/main/.venv/bin/python -m services.$SVC > /tmp/idle_${SVC}_$U.log 2>&1 &
PID=$!
for i in $(seq 1 60); do curl -sf localhost:$PORT/readyz >/dev/null && break; sleep 1; done
sleep 10
T0=$(awk '{print $14+$15}' /proc/$PID/stat); S0=$(date +%s.%N)
sleep 30
T1=$(awk '{print $14+$15}' /proc/$PID/stat); S1=$(date +%s.%N)
kill $PID; wait $PID 2>/dev/null
echo "$TREE $SVC: $(echo "scale=2; 100*($T1-$T0)/$(getconf CLK_TCK)/($S1-$S0)" | bc) % of a core idle (schema idle_$U)"
psql_drop() { /work/main/.venv/bin/python -c "import psycopg; c=psycopg.connect('host=127.0.0.1 port=55432 user=postgres dbname=minsheng', autocommit=True); c.execute('DROP SCHEMA IF EXISTS idle_$U CASCADE')"; }
psql_drop
