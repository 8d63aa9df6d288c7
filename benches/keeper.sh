#!/usr/bin/env bash
# How much the socket keeper of a foreground daemon costs (BENCHMARKS.md, issue 22):
# daemon start -> status answered, with and without it, alternating, 15 each;
# the keeper's RSS and its context switches over 10 s idle. Usage: benches/keeper.sh BIN
set -u
B=${1:?usage: benches/keeper.sh RELEASE_DIR/llm-bridge}
D=$(mktemp -d /tmp/kb.XXXX); chmod 700 $D
export XDG_RUNTIME_DIR=$D HOME=$D/home LLM_BRIDGE_CONFIG=$D/none.toml
mkdir -p $HOME
now() { date +%s%N; }
for round in $(seq 1 15); do
  for mode in keeper no-keeper; do
    args=(); [[ $mode == no-keeper ]] && args=(--no-keeper)
    t0=$(now)
    $B daemon "${args[@]}" 2>$D/log &
    P=$!
    until grep -q "daemon listening" $D/log 2>/dev/null && $B status >/dev/null 2>&1; do :; done
    # the keeper line comes at the start of the loop: wait for it too
    if [[ $mode == keeper ]]; then until grep -q "keeper (pid" $D/log; do :; done; fi
    t1=$(now)
    echo "$mode $(( (t1-t0)/1000 ))" >>$D/times
    if [[ $round == 15 && $mode == keeper ]]; then
      K=$(grep -o "keeper (pid [0-9]*" $D/log | grep -o "[0-9]*$")
      grep VmRSS /proc/$K/status
      c0=$(awk '/voluntary_ctxt_switches/{s+=$2} END{print s}' /proc/$K/status)
      sleep 10
      c1=$(awk '/voluntary_ctxt_switches/{s+=$2} END{print s}' /proc/$K/status)
      echo "keeper context switches over 10 s idle: $((c1-c0))"
      grep VmRSS /proc/$P/status
    fi
    kill $P; wait $P 2>/dev/null
  done
done
for m in keeper no-keeper; do
  grep "^$m " $D/times | awk '{print $2}' | sort -n |
    awk -v m=$m '{a[NR]=$1} END{print "start -> serving, " m ": p50 " a[int((NR+1)/2)] " us, min " a[1] ", max " a[NR] " (n=" NR ")"}'
done
rm -rf $D
