#!/usr/bin/env bash
# validate.sh: offline checks of everything under deploy/ and docker/. Starts
# no process besides the checkers; needs no cluster, Docker daemon or network.
#
#   deploy/validate.sh            exit 0 if every check passed (skips are not failures)
#
#  1. bash -n (+ shellcheck when installed) on the shell scripts.
#  2. local-cluster.sh --dry-run for 3 workers, then promtool check config on
#     the generated config (which loads alerts.yml).
#  3. promtool check config / check rules / test rules on deploy/prometheus.
#  4. deploy/k8s: every YAML parses (PyYAML), has apiVersion/kind/name and no
#     namespace; workload selectors match their pod labels; Services select a
#     workload and name existing ports; probes, volumeMounts, PVCs,
#     configMapKeyRefs and $(VAR)s in args resolve; the embedded Prometheus
#     config and scrape snippet pass promtool; the embedded alerts.yml equals
#     deploy/prometheus/alerts.yml; kustomization resources exist and
#     `kubectl kustomize` renders them (when kubectl is installed).
#  5. grafana-dashboard.json parses, ids are unique, panels fit the 24-column
#     grid, every query is valid PromQL (promtool, via a generated rules file)
#     and names only known eqat metrics.
#  6. docker/*.Dockerfile: known instructions, JSON-form arguments parse, COPY
#     sources exist and are not excluded by the .dockerignore.
# Requires promtool (Debian prometheus) and python3; the YAML checks are
# skipped, with a note, when PyYAML is missing.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
skipped=0
ok()   { echo "ok:   $*"; passed=$((passed + 1)); }
bad()  { echo "FAIL: $*"; failed=$((failed + 1)); }
skip() { echo "skip: $*"; skipped=$((skipped + 1)); }

# run NAME CMD...: runs CMD, prints its output only on failure.
run() {
  local name=$1; shift
  if "$@" >"$TMP/out" 2>&1; then ok "$name"; else bad "$name"; sed 's/^/      /' "$TMP/out"; fi
}

# ---- 1. shell scripts ----------------------------------------------------------
for f in deploy/local-cluster.sh deploy/make-certs.sh deploy/validate.sh docker/healthcheck.sh docker/runtime-packages.sh; do
  run "bash -n $f" bash -n "$f"
  if command -v shellcheck >/dev/null; then
    run "shellcheck $f" shellcheck "$f"
  fi
done
command -v shellcheck >/dev/null || skip "shellcheck not installed"

# ---- 2 + 3. Prometheus -----------------------------------------------------------
if ! command -v promtool >/dev/null; then
  bad "promtool not found (apt-get install prometheus)"
else
  run "local-cluster.sh --dry-run" bash deploy/local-cluster.sh 3 --dry-run \
    --state-dir "$TMP/cluster" --base-port 27400
  run "promtool check config <generated local-cluster config>" \
    promtool check config "$TMP/cluster/prometheus.yml"
  run "promtool check config deploy/prometheus/prometheus.yml" \
    promtool check config deploy/prometheus/prometheus.yml
  run "promtool check rules deploy/prometheus/alerts.yml" \
    promtool check rules deploy/prometheus/alerts.yml
  run "promtool test rules deploy/prometheus/alerts_test.yml" \
    promtool test rules deploy/prometheus/alerts_test.yml
fi

# ---- 4-6. manifests, dashboard, Dockerfiles ------------------------------------
if command -v kubectl >/dev/null; then
  run "kubectl kustomize deploy/k8s (renders offline)" kubectl kustomize deploy/k8s
else
  skip "kubectl kustomize deploy/k8s: kubectl not installed"
fi
if ! command -v python3 >/dev/null; then
  bad "python3 not found"
else
  set +e
  python3 - "$TMP" <<'PY'
import json, os, re, subprocess, sys

tmp = sys.argv[1]
results = []
def ok(m): results.append(("ok", m))
def bad(m): results.append(("FAIL", m))
def skip(m): results.append(("skip", m))

def promtool(*args):
    p = subprocess.run(["promtool", *args], capture_output=True, text=True)
    return p.returncode == 0, (p.stdout + p.stderr).strip()

K8S_SD_ROLES = {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}

def check_prom_config(label, cfg_text, directory):
    """promtool check config on cfg_text. Debian's Prometheus is built without
    Kubernetes service discovery, so its promtool rejects kubernetes_sd_configs:
    then the sd blocks are checked here (role, namespaces) and replaced by a
    static target for promtool, which still checks everything else (relabel
    rules, regexes, rule files)."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "prometheus.yml")
    open(path, "w").write(cfg_text)
    good, out = promtool("check", "config", path)
    if good:
        ok(f"promtool check config {label}")
        return
    if "kubernetes_sd_configs not found" not in out:
        bad(f"promtool check config {label}\n{out}")
        return
    cfg = yaml.safe_load(cfg_text)
    errs = []
    for job in cfg.get("scrape_configs", []):
        for sd in job.pop("kubernetes_sd_configs", []) or []:
            if sd.get("role") not in K8S_SD_ROLES:
                errs.append(f"{job['job_name']}: bad kubernetes_sd role {sd.get('role')!r}")
            extra = set(sd) - {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata"}
            if extra:
                errs.append(f"{job['job_name']}: unknown kubernetes_sd keys {sorted(extra)}")
            if set(sd.get("namespaces", {})) - {"own_namespace", "names"}:
                errs.append(f"{job['job_name']}: unknown namespaces keys")
            job.setdefault("static_configs", []).append({"targets": ["placeholder.invalid:9090"]})
    open(path, "w").write(yaml.safe_dump(cfg, sort_keys=False))
    good, out = promtool("check", "config", path)
    if good and not errs:
        ok(f"promtool check config {label} (kubernetes_sd_configs checked by hand: this promtool lacks Kubernetes SD)")
    else:
        bad(f"promtool check config {label}: " + "; ".join(errs) + ("" if good else "\n" + out))

# Work done is counted on the workers; eqat_coordinator_* only for what the
# coordinator alone knows. Its copies of the worker totals (e.g.
# eqat_coordinator_blocks_completed_total) are left out: a panel must not add
# them to the workers' series.
KNOWN_METRICS = {
    "eqat_coordinator_jobs", "eqat_blocks_completed_total", "eqat_block_loss", "eqat_train_step_seconds_bucket",
    "eqat_train_step_seconds_sum", "eqat_train_step_seconds_count", "eqat_tokens_per_second",
    "eqat_transport_bytes_total", "eqat_transport_wait_seconds_total", "eqat_coordinator_queue_depth",
    "eqat_coordinator_worker_up", "eqat_coordinator_worker_heartbeat_age_seconds", "process_resident_memory_bytes", "up",
}

# ---- 4. Kubernetes manifests ----
try:
    import yaml
except ImportError:
    yaml = None
    skip("deploy/k8s YAML checks: PyYAML not installed (apt-get install python3-yaml)")

k8s = "deploy/k8s"
if yaml:
    docs = []
    for name in sorted(os.listdir(k8s)):
        if not name.endswith(".yaml"):
            continue
        path = os.path.join(k8s, name)
        try:
            loaded = [d for d in yaml.safe_load_all(open(path)) if d is not None]
        except yaml.YAMLError as e:
            bad(f"{path}: does not parse: {e}")
            continue
        ok(f"{path}: parses ({len(loaded)} document(s))")
        if name == "kustomization.yaml":
            kust = loaded[0]
            for r in kust.get("resources", []):
                (ok if os.path.exists(os.path.join(k8s, r)) else bad)(f"kustomization resource {r} exists")
            for g in kust.get("configMapGenerator", []):
                for f in g.get("files", []):
                    (ok if os.path.exists(os.path.join(k8s, f)) else bad)(f"kustomization file {f} exists")
            listed = set(kust.get("resources", [])) | {"kustomization.yaml"}
            for other in sorted(os.listdir(k8s)):
                if other.endswith(".yaml") and other not in listed:
                    bad(f"{other} is not listed in kustomization.yaml resources")
            continue
        for d in loaded:
            docs.append((path, d))

    by_kind = {}
    for path, d in docs:
        where = f"{path}: {d.get('kind')}/{(d.get('metadata') or {}).get('name')}"
        missing = [k for k in ("apiVersion", "kind") if not d.get(k)]
        if missing or not (d.get("metadata") or {}).get("name"):
            bad(f"{where}: missing apiVersion/kind/metadata.name")
        if "namespace" in (d.get("metadata") or {}):
            bad(f"{where}: sets metadata.namespace (the manifests are namespace-agnostic)")
        by_kind.setdefault(d["kind"], []).append((path, d))

    configmaps = {d["metadata"]["name"]: d for _, d in by_kind.get("ConfigMap", [])}
    pvcs = {d["metadata"]["name"] for _, d in by_kind.get("PersistentVolumeClaim", [])}
    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    services = by_kind.get("Service", [])

    def pod_ports(tmpl):
        return {p.get("name"): p["containerPort"] for c in tmpl["spec"]["containers"] for p in c.get("ports", [])}

    for path, w in workloads:
        name = f"{path}: {w['kind']}/{w['metadata']['name']}"
        errs = []
        spec = w["spec"]; tmpl = spec["template"]; labels = tmpl["metadata"].get("labels", {})
        sel = spec["selector"]["matchLabels"]
        if any(labels.get(k) != v for k, v in sel.items()):
            errs.append(f"selector {sel} does not match pod labels {labels}")
        if w["kind"] == "StatefulSet":
            svc = [s for _, s in services if s["metadata"]["name"] == spec.get("serviceName")]
            if not svc or svc[0]["spec"].get("clusterIP") != "None":
                errs.append(f"serviceName {spec.get('serviceName')} is not a headless Service here")
        ann = tmpl["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true":
            errs.append("pod template lacks prometheus.io/scrape: \"true\"")
        ports = pod_ports(tmpl)
        if "metrics" not in ports:
            errs.append("no container port named metrics (the scrape configs keep only it)")
        elif str(ports["metrics"]) != ann.get("prometheus.io/port"):
            errs.append("prometheus.io/port annotation differs from the metrics port")
        vols = {v["name"]: v for v in tmpl["spec"].get("volumes", [])}
        for v in vols.values():
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim and claim not in pvcs:
                errs.append(f"volume {v['name']}: PVC {claim} is not defined")
        sc = tmpl["spec"].get("securityContext", {})
        if not sc.get("runAsNonRoot"):
            errs.append("pod securityContext lacks runAsNonRoot")
        for c in tmpl["spec"]["containers"]:
            env = {e["name"]: e for e in c.get("env", [])}
            for e in env.values():
                ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                if ref:
                    cm = configmaps.get(ref["name"])
                    if cm is None or ref["key"] not in cm.get("data", {}):
                        errs.append(f"env {e['name']}: ConfigMap key {ref['name']}/{ref['key']} not found")
            for a in c.get("args", []) + c.get("command", []):
                for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a):
                    if var not in env:
                        errs.append(f"arg {a!r}: $({var}) is not an env var of the container")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                p = c.get(probe)
                if not p:
                    errs.append(f"container {c['name']}: no {probe}")
                    continue
                port = (p.get("httpGet") or {}).get("port")
                if isinstance(port, str) and port not in ports:
                    errs.append(f"{probe}: port {port} is not a container port name")
                if (p.get("httpGet") or {}).get("path") != "/healthz":
                    errs.append(f"{probe}: not GET /healthz")
            for m in c.get("volumeMounts", []):
                if m["name"] not in vols:
                    errs.append(f"volumeMount {m['name']} has no volume")
            if w["kind"] == "StatefulSet":
                for part in ("requests", "limits"):
                    if str(c.get("resources", {}).get(part, {}).get("nvidia.com/gpu")) != "1":
                        errs.append(f"worker {part} lack nvidia.com/gpu: 1")
        (bad if errs else ok)(name + (": " + "; ".join(errs) if errs else ": references resolve"))

    # Shared volume at the same path as the allowed root everywhere.
    roots = configmaps.get("eqat-config", {}).get("data", {}).get("allowed-roots", "")
    for path, w in workloads:
        mounts = {m["mountPath"] for c in w["spec"]["template"]["spec"]["containers"]
                  for m in c.get("volumeMounts", []) if m["name"] == "shared"}
        for root in filter(None, roots.split(",")):
            (ok if root in mounts else bad)(f"{w['metadata']['name']}: shared volume mounted at allowed root {root}")

    for path, s in services:
        name = f"{path}: Service/{s['metadata']['name']}"
        sel = s["spec"].get("selector", {})
        targets = [w for _, w in workloads
                   if all(w["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())]
        if not targets:
            bad(f"{name}: selector {sel} matches no workload")
            continue
        ports = pod_ports(targets[0]["spec"]["template"])
        missing = [p["targetPort"] for p in s["spec"]["ports"]
                   if isinstance(p.get("targetPort"), str) and p["targetPort"] not in ports]
        (bad if missing else ok)(f"{name}: " + (f"targetPorts {missing} not found" if missing else "selects a workload, ports resolve"))

    # Embedded Prometheus configuration.
    prom_cm = configmaps.get("eqat-prometheus")
    if prom_cm:
        d = os.path.join(tmp, "k8s-prom"); os.makedirs(d, exist_ok=True)
        cfg = prom_cm["data"]["prometheus.yml"].replace("/etc/prometheus/alerts.yml", "alerts.yml")
        open(os.path.join(d, "alerts.yml"), "w").write(prom_cm["data"]["alerts.yml"])
        check_prom_config("<eqat-prometheus ConfigMap prometheus.yml + alerts.yml>", cfg, d)
        same = prom_cm["data"]["alerts.yml"] == open("deploy/prometheus/alerts.yml").read()
        (ok if same else bad)("eqat-prometheus alerts.yml equals deploy/prometheus/alerts.yml")
    else:
        bad("ConfigMap eqat-prometheus not found")
    snippet = configmaps.get("eqat-config", {}).get("data", {}).get("prometheus-scrape-snippet.yaml")
    if snippet:
        check_prom_config("<eqat-config prometheus-scrape-snippet.yaml>",
                          "scrape_configs:\n" + "".join("  " + l for l in snippet.splitlines(True)),
                          os.path.join(tmp, "snippet"))
        if prom_cm:
            a = yaml.safe_load(snippet)
            b = [j for j in yaml.safe_load(prom_cm["data"]["prometheus.yml"])["scrape_configs"] if j["job_name"].startswith("eqat")]
            for j in b:
                for sd in j.get("kubernetes_sd_configs", []):
                    sd.pop("namespaces", None)
            (ok if a == b else bad)("scrape snippet = eqat jobs of eqat-prometheus (apart from own_namespace)")
    else:
        bad("eqat-config has no prometheus-scrape-snippet.yaml")

# ---- 5. Grafana dashboard ----
path = os.path.join(k8s, "grafana-dashboard.json")
try:
    dash = json.load(open(path))
    ok(f"{path}: parses")
except Exception as e:  # noqa: BLE001
    dash = None
    bad(f"{path}: {e}")
if dash:
    errs = []
    for k in ("title", "uid", "panels", "schemaVersion"):
        if k not in dash:
            errs.append(f"missing {k}")
    ids = [p["id"] for p in dash["panels"]]
    if len(ids) != len(set(ids)):
        errs.append("duplicate panel ids")
    exprs = []
    for p in dash["panels"]:
        g = p.get("gridPos", {})
        if g.get("x", 0) + g.get("w", 0) > 24:
            errs.append(f"panel {p['title']!r} is wider than the grid")
        if p["type"] != "row" and not p.get("targets"):
            errs.append(f"panel {p['title']!r} has no query")
        for t in p.get("targets", []):
            exprs.append((p["title"], t["expr"]))
    rules = os.path.join(tmp, "dashboard_rules.yml")
    with open(rules, "w") as f:
        f.write("groups:\n  - name: dashboard\n    rules:\n")
        for i, (_, e) in enumerate(exprs):
            e = e.replace("$__rate_interval", "5m").replace("$__interval", "1m")
            f.write(f"      - record: dashboard:expr_{i}\n        expr: {json.dumps(e)}\n")
    good, out = promtool("check", "rules", rules)
    if not good:
        errs.append("PromQL:\n" + out)
    for title, e in exprs:
        body = re.sub(r'"[^"]*"', '""', e)      # drop label values
        body = re.sub(r"\{[^}]*\}", "", body)   # and matchers
        body = re.sub(r"\[[^\]]*\]", "", body)  # and ranges
        for ident in re.findall(r"\b(?:eqat_[a-z_]+|process_[a-z_]+|up)\b", body):
            if ident not in KNOWN_METRICS:
                errs.append(f"panel {title!r}: unknown metric {ident}")
    wanted = ["eqat_coordinator_jobs", "eqat_blocks_completed_total", 'kind="train"', 'kind="val"', "histogram_quantile",
              "eqat_tokens_per_second", "eqat_transport_bytes_total", "eqat_transport_wait_seconds_total",
              "eqat_coordinator_queue_depth", "eqat_coordinator_worker_up", "eqat_coordinator_worker_heartbeat_age_seconds", "process_resident_memory_bytes"]
    alltext = "\n".join(e for _, e in exprs)
    for w in wanted:
        if w not in alltext:
            errs.append(f"no panel queries {w}")
    (bad if errs else ok)(f"{path}: {len(dash['panels'])} panels, {len(exprs)} queries" + (": " + "; ".join(errs) if errs else " valid"))

# ---- 6. Dockerfiles ----
INSTR = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
         "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER"}
import fnmatch
for name in sorted(os.listdir("docker")):
    if not name.endswith(".Dockerfile"):
        continue
    path = os.path.join("docker", name)
    errs = []
    text = open(path).read()
    logical, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        logical.append(cur + s); cur = ""
    if cur:
        errs.append("file ends inside a continued line")
    ignore = os.path.join("docker", name + ".dockerignore")
    patterns = [l.strip() for l in open(ignore) if l.strip() and not l.startswith("#")] if os.path.exists(ignore) else []
    if not patterns:
        errs.append(f"no {ignore}")
    def ignored(p):
        parts = p.split("/")
        return any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(parts[0], pat) for pat in patterns)
    seen_from = False
    for l in logical:
        instr, _, rest = l.partition(" ")
        if instr.upper() not in INSTR:
            errs.append(f"unknown instruction {instr!r}")
            continue
        instr = instr.upper()
        if instr == "FROM":
            seen_from = True
        elif not seen_from and instr != "ARG":
            errs.append(f"{instr} before FROM")
        if instr in ("CMD", "ENTRYPOINT") or (instr == "HEALTHCHECK" and " CMD [" in l):
            arr = rest[rest.index("CMD") + 3:].strip() if instr == "HEALTHCHECK" else rest.strip()
            if arr.startswith("["):
                try:
                    json.loads(arr)
                except ValueError as e:
                    errs.append(f"{instr}: bad JSON form: {e}")
        if instr == "COPY" and "--from=" not in rest:
            srcs = [a for a in rest.split() if not a.startswith("--")][:-1]
            for s in srcs:
                if s != "." and not os.path.exists(s):
                    errs.append(f"COPY source {s} does not exist")
        if instr == "RUN":
            for ref in re.findall(r"\b(docker/[\w.-]+|scripts/[\w.-]+)", rest):
                if not os.path.exists(ref):
                    errs.append(f"RUN uses {ref}, which does not exist")
                elif ignored(ref):
                    errs.append(f"RUN uses {ref}, which {ignore} excludes")
    for must in ("CMakeLists.txt", "common", "proto", "worker", "coordinator", "client", "kernels"):
        if ignored(must):
            errs.append(f"{ignore} excludes {must}, needed to build")
    (bad if errs else ok)(f"{path}: {len(logical)} instructions" + (": " + "; ".join(errs) if errs else " well-formed"))

for status, msg in results:
    print(f"{status + ':':5} {msg}")
sys.exit(1 if any(s == "FAIL" for s, _ in results) else 0)
PY
  rc=$?
  set -e
  if (( rc == 0 )); then ok "manifests, dashboard and Dockerfiles (python checks)"; else bad "python checks (see FAIL lines above)"; fi
fi

echo
echo "deploy/validate.sh: $passed passed, $failed failed, $skipped skipped"
(( failed == 0 ))
