"""The Kubernetes files of deploy/: valid objects for a real API schema, and the grading Jobs' promises.

Every YAML document in ``deploy/kubernetes/*.yaml`` is a Kubernetes object: each is validated,
placeholders filled in, by kubernetes-validate (the API's OpenAPI schemas, bundled: no network) in
strict mode, so that a misspelt or misplaced field fails, for the oldest Kubernetes the files
need (1.33: user namespaces on by default) and the newest the validator knows. ``deploy/config.yaml``
is Helm values, not an object; the Kubernetes fragments it holds (the students' volumes, mounts,
lifecycle hook) are validated inside a pod built from them.

Then the security promises of the grading Jobs, field by field: the pod that runs student code
holds no gradebook credentials, no secret file and no course files beyond its assignment's source
and its student's submission, read-only; it has no network (a NetworkPolicy with no rules selects
its labels), no service-account token, a read-only root file system, limits, a non-root user;
the trusted record step reaches only the database. The Jobs' commands themselves are run end to
end in tests/test_detached_grading.py.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
VERSIONS = ("1.33", kubernetes_validate.latest_version())
A, S = "01_perceptron", "alice.smith"
RUN, RECORD = "grade-run-job.yaml", "grade-record-job.yaml"
# what a grading pod must never be handed: gradebook credentials, the secret file, the course config
FORBIDDEN = re.compile(r"db_url|DB_URL|DATABASE|postgres|nngrader_secret\.txt|nbgrader_config|gradebook", re.I)
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")


def fill(text: str, assignment=A, student=S) -> str:
    return text.replace("__ASSIGNMENT__", assignment).replace("__STUDENT__", student)


def documents(path: Path, **kw) -> list[dict]:
    return [d for d in yaml.safe_load_all(fill(path.read_text(), **kw)) if d]


def all_objects() -> list:
    return [pytest.param(doc, id=f"{path.name}[{i}]:{doc.get('kind')}")
            for path in sorted(K8S.glob("*.yaml")) for i, doc in enumerate(documents(path))]


def job(name, **kw) -> dict:
    (doc,) = documents(K8S / name, **kw)
    assert doc["kind"] == "Job"
    return doc


def pod_of(doc) -> dict:
    return doc["spec"]["template"]["spec"]


def by_name(items) -> dict:
    return {i["name"]: i for i in items}


def grader_objects() -> dict:
    return {(d["kind"], d["metadata"]["name"]): d for d in documents(K8S / "grader.yaml")}


def validate(doc, version):
    return kubernetes_validate.validate(doc, version, strict=True)


# --- a real schema validator over every object ----------------------------------------------------
def test_every_file_is_found():
    names = {p.name for p in K8S.glob("*.yaml")}
    assert {RUN, RECORD, "grader.yaml", "storage.yaml"} <= names
    assert "grade-job.yaml" not in names  # replaced by the two steps


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("doc", all_objects())
def test_every_kubernetes_object_is_valid(doc, version):
    assert doc.get("apiVersion") and doc.get("kind"), doc
    validate(doc, version)
    assert "__" not in yaml.safe_dump(doc), "a placeholder was left unreplaced"


@pytest.mark.parametrize("doc", all_objects())
def test_every_resource_quantity_is_well_formed(doc):
    # the schema accepts any string for a quantity; the API server would refuse "6 GiB"
    found = []

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("requests", "limits") and isinstance(v, dict):
                    found.extend(v.values())
                elif k in ("sizeLimit", "storage") and isinstance(v, (str, int)):
                    found.append(v)
                else:
                    walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)

    walk(doc)
    for q in found:
        assert QUANTITY.match(str(q)), q


def test_the_validator_catches_a_broken_manifest():
    doc = job(RUN)
    validate(doc, "1.33")
    typo = copy.deepcopy(doc)
    sc = pod_of(typo)["containers"][0]["securityContext"]
    sc["readOnlyRootFileSystem"] = sc.pop("readOnlyRootFilesystem")  # one capital letter off
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFileSystem"):
        validate(typo, "1.33")
    misplaced = copy.deepcopy(doc)
    misplaced["spec"]["hostUsers"] = False  # a pod field on the Job
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(misplaced, "1.33")
    wrong_type = copy.deepcopy(doc)
    pod_of(wrong_type)["automountServiceAccountToken"] = "false"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(wrong_type, "1.33")


def test_placeholders_become_the_assignment_and_student():
    for name in (RUN, RECORD):
        text = (K8S / name).read_text()
        assert "__ASSIGNMENT__" in text and "__STUDENT__" in text
        doc = job(name, assignment="02_three_layer", student="bob")
        command = pod_of(doc)["containers"][0]["command"]
        assert command[3] == "02_three_layer" and command[command.index("--student") + 1] == "bob"
        assert doc["metadata"]["labels"]["nn-fundamentals/assignment"] == "02_three_layer"
        assert doc["metadata"]["annotations"]["nn-fundamentals/student"] == "bob"
        assert doc["metadata"]["generateName"]  # `kubectl create`, one Job per student and run


# --- the run step: student code, no credentials, no network ---------------------------------------
def test_run_pod_runs_grade_detached_on_its_own_student_only():
    pod = pod_of(job(RUN))
    (c,) = pod["containers"]
    assert not pod.get("initContainers")
    cmd = c["command"]
    assert cmd[:3] == ["python", "-m", "nngrader.grade_detached"] and cmd[3] == A
    assert cmd[cmd.index("--student") + 1] == S
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = by_name(pod["volumes"])
    source, submission, out = (cmd[cmd.index(f) + 1] for f in ("--source", "--submission", "--out"))
    # the course volume: read-only, and only these two folders of it
    course = [m for m in c["volumeMounts"] if volumes[m["name"]].get("persistentVolumeClaim", {}).get("claimName")
              == "nn-fundamentals-course"]
    assert {m["subPath"] for m in course} == {f"solutions/{A}", f"submitted/{S}/{A}"}
    assert all(m.get("readOnly") is True for m in course)
    assert all(volumes[m["name"]]["persistentVolumeClaim"].get("readOnly") is True for m in course)
    assert mounts[source]["subPath"] == f"solutions/{A}" and mounts[submission]["subPath"] == f"submitted/{S}/{A}"
    # the output: this student's folder of the results volume, nothing else of it
    assert mounts[out]["subPath"] == f"{A}/{S}" and not mounts[out].get("readOnly")
    assert volumes[mounts[out]["name"]]["persistentVolumeClaim"]["claimName"] == "nn-fundamentals-grading-results"
    # every other mount is a size-limited emptyDir: /tmp and the private course root
    others = [m for m in c["volumeMounts"] if "persistentVolumeClaim" not in volumes[m["name"]]]
    assert {m["mountPath"] for m in others} >= {"/tmp"}
    for m in others:
        assert set(volumes[m["name"]]) == {"name", "emptyDir"} and volumes[m["name"]]["emptyDir"]["sizeLimit"]
    workdir = cmd[cmd.index("--workdir") + 1]
    assert any(workdir.startswith(m["mountPath"] + "/") for m in others)
    assert cmd[cmd.index("--course-id") + 1] == "nn-fundamentals"


def test_run_pod_holds_no_gradebook_credentials_and_no_secret_file():
    pod = pod_of(job(RUN))
    (c,) = pod["containers"]
    env = by_name(c.get("env", []))
    assert not c.get("envFrom") and not pod.get("initContainers")
    for item in env.values():
        assert not FORBIDDEN.search(yaml.safe_dump(item)), item
    # the hidden cases' secret comes from a Secret, as an environment variable only
    assert env["NNGRADER_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "nn-fundamentals-grading", "key": "secret"}
    secret_refs = [e for e in env.values() if "secretKeyRef" in e.get("valueFrom", {})]
    assert [e["name"] for e in secret_refs] == ["NNGRADER_SECRET"]
    for v in pod["volumes"]:
        assert set(v) & {"persistentVolumeClaim", "emptyDir"} and not set(v) & {"secret", "projected", "configMap",
                                                                               "hostPath", "csi", "nfs"}, v
    for m in c["volumeMounts"]:
        assert not FORBIDDEN.search(m["mountPath"] + m.get("subPath", "")), m
        assert m["mountPath"] != "/srv/course"  # never the course root


def test_run_pod_is_locked_down():
    doc = job(RUN)
    pod = pod_of(doc)
    (c,) = pod["containers"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["restartPolicy"] == "Never" and doc["spec"]["backoffLimit"] == 0
    assert doc["spec"]["activeDeadlineSeconds"] > 0
    for host in ("hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"):
        assert not pod.get(host), host
    assert pod["securityContext"]["runAsNonRoot"] is True
    uid = pod["securityContext"]["runAsUser"]
    assert isinstance(uid, int) and uid > 0  # numeric: runAsNonRoot cannot check a user name
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc.get("runAsUser", uid) != 0
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert not sc.get("privileged")
    res = c["resources"]
    for kind in ("requests", "limits"):
        assert set(res[kind]) == {"cpu", "memory", "ephemeral-storage"}, kind
    # the emptyDirs fit in the ephemeral-storage limit
    sizes = [v["emptyDir"]["sizeLimit"] for v in pod["volumes"] if "emptyDir" in v]
    gib = lambda q: float(q[:-2]) / (1024 if q.endswith("Mi") else 1)  # noqa: E731
    assert sum(gib(s) for s in sizes) < gib(res["limits"]["ephemeral-storage"])


def test_run_pod_can_make_the_grading_jail():
    """bubblewrap inside the pod: user namespaces for the pod, an unmasked /proc (which Kubernetes
    allows only with hostUsers: false), and a seccomp/AppArmor policy that allows namespaces and mounts."""
    pod = pod_of(job(RUN))
    (c,) = pod["containers"]
    assert pod["hostUsers"] is False
    sc = c["securityContext"]
    assert sc["procMount"] == "Unmasked"
    assert sc["seccompProfile"]["type"] in ("Unconfined", "Localhost")
    assert sc["appArmorProfile"]["type"] in ("Unconfined", "Localhost")


def test_network_policy_cuts_the_run_pods_off():
    pod_labels = job(RUN)["spec"]["template"]["metadata"]["labels"]
    policy = grader_objects()["NetworkPolicy", "nn-fundamentals-grade-run"]
    spec = policy["spec"]
    selector = spec["podSelector"]["matchLabels"]
    assert selector and selector.items() <= pod_labels.items()
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert not spec.get("egress") and not spec.get("ingress")  # no rule: nothing allowed, DNS neither
    # no other policy selecting these pods lets traffic through (policies add up)
    for (kind, name), doc in grader_objects().items():
        if kind == "NetworkPolicy" and name != policy["metadata"]["name"]:
            other = doc["spec"]["podSelector"].get("matchLabels", {})
            assert other and not other.items() <= pod_labels.items(), name


# --- the record step: trusted, the gradebook and nothing else -------------------------------------
def test_record_pod_records_the_run_steps_output():
    run, rec = pod_of(job(RUN)), pod_of(job(RECORD))
    (c,) = rec["containers"]
    cmd = c["command"]
    assert cmd[:3] == ["python", "-m", "nngrader.record"] and cmd[3] == A and cmd[cmd.index("--student") + 1] == S
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = by_name(rec["volumes"])
    src = mounts[cmd[cmd.index("--from") + 1]]
    (run_out,) = [m for m in run["containers"][0]["volumeMounts"] if m["name"] == "results"]
    assert src["subPath"] == run_out["subPath"] == f"{A}/{S}" and src["readOnly"] is True
    assert volumes[src["name"]]["persistentVolumeClaim"] == {"claimName": "nn-fundamentals-grading-results",
                                                            "readOnly": True}
    # the course root, where nbgrader_config.py and the gradebook are
    assert volumes[mounts[c["workingDir"]]["name"]]["persistentVolumeClaim"]["claimName"] == "nn-fundamentals-course"
    env = by_name(c["env"])
    assert env["NNGRADER_DB_URL"]["valueFrom"]["secretKeyRef"]["name"] == "nn-fundamentals-gradebook"
    assert "NNGRADER_SECRET" not in env  # recording needs no hidden cases


def test_record_pod_is_locked_down():
    doc = job(RECORD)
    pod = pod_of(doc)
    (c,) = pod["containers"]
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and not sc.get("privileged")
    for kind in ("requests", "limits"):
        assert set(c["resources"][kind]) == {"cpu", "memory", "ephemeral-storage"}
    for host in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        assert host not in pod, host  # nothing relaxed here: no student code runs in this pod


def test_network_policy_lets_the_record_pods_reach_only_the_database():
    pod_labels = job(RECORD)["spec"]["template"]["metadata"]["labels"]
    spec = grader_objects()["NetworkPolicy", "nn-fundamentals-grade-record"]["spec"]
    assert spec["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"} and not spec.get("ingress")
    database, dns = spec["egress"]
    assert database["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert database["to"] == [{"podSelector": {"matchLabels": {"nn-fundamentals/gradebook": "true"}}}]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    (peer,) = dns["to"]
    assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"} and "namespaceSelector" in peer


def test_the_two_steps_use_different_pods_and_labels():
    run, rec = job(RUN), job(RECORD)
    run_name = run["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
    rec_name = rec["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
    assert run_name != rec_name
    assert run["metadata"]["labels"]["nn-fundamentals/step"] == "run"
    assert rec["metadata"]["labels"]["nn-fundamentals/step"] == "record"


# --- the course service and the volumes -----------------------------------------------------------
def test_course_service_can_make_the_grading_jail_too():
    """The formgrader's Autograde button runs student code in this pod: same jail needs as the run pod."""
    deployment = grader_objects()["Deployment", "nn-fundamentals-grader"]
    pod = deployment["spec"]["template"]["spec"]
    c = by_name(pod["containers"])["grader"]
    assert pod["hostUsers"] is False and pod["automountServiceAccountToken"] is False
    sc = c["securityContext"]
    assert sc["procMount"] == "Unmasked" and sc["seccompProfile"]["type"] == "Unconfined"
    assert sc["appArmorProfile"]["type"] == "Unconfined"
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsNonRoot"] is True
    env = by_name(c["env"])
    assert env["NNGRADER_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "nn-fundamentals-grading", "key": "secret",
                                                                   "optional": True}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    assert claims["results"] == "nn-fundamentals-grading-results" and mounts["results"] == "/srv/results"


def test_every_claim_is_in_storage_yaml():
    pvcs = {d["metadata"]["name"]: d for d in documents(K8S / "storage.yaml")}
    assert all(d["spec"]["accessModes"] == ["ReadWriteMany"] for d in pvcs.values())
    for path in K8S.glob("*.yaml"):
        for doc in documents(path):
            if doc["kind"] in ("Job", "Deployment"):
                for v in pod_of(doc)["volumes"]:
                    if "persistentVolumeClaim" in v:
                        assert v["persistentVolumeClaim"]["claimName"] in pvcs, (path.name, v)


def test_students_pods_get_nothing_of_the_grading():
    """deploy/config.yaml (Helm values): a student's pod mounts the exchange only, never the course,
    the results or a Secret, and its Kubernetes fragments are valid inside a pod."""
    values = yaml.safe_load((DEPLOY / "config.yaml").read_text())
    assert "apiVersion" not in values and "kind" not in values  # values, not an object
    single = values["singleuser"]
    volumes, mounts = single["storage"]["extraVolumes"], single["storage"]["extraVolumeMounts"]
    assert [v["persistentVolumeClaim"]["claimName"] for v in volumes] == ["nbgrader-exchange"]
    assert not FORBIDDEN.search(yaml.safe_dump(single)) and "NNGRADER_SECRET" not in yaml.safe_dump(values)
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "jupyter-student1"},
        "spec": {"volumes": volumes, "containers": [{
            "name": "notebook", "image": f"{single['image']['name']}:{single['image']['tag']}",
            "volumeMounts": mounts, "lifecycle": single["lifecycleHooks"],
            "env": [{"name": k, "value": str(v)} for k, v in single["extraEnv"].items()],
        }]},
    }
    for version in VERSIONS:
        validate(pod, version)


# --- the documentation runs these files ------------------------------------------------------------
def test_readme_loop_uses_the_two_jobs():
    text = (DEPLOY / "README.md").read_text()
    section = text[text.index("### Grading as Kubernetes Jobs"):]
    section = section[:section.index("\n## ")]
    for name in (RUN, RECORD):
        assert f"deploy/kubernetes/{name}" in section or f"kubernetes/{name}" in section
    assert "s/__ASSIGNMENT__/" in section and "s/__STUDENT__/" in section
    assert "nn-fundamentals-grading" in section  # the Secret the run Jobs need is created there
    for readme in (ROOT / "README.md", DEPLOY / "README.md", DEPLOY / "config.yaml", *K8S.glob("*.yaml")):
        assert "grade-job.yaml" not in readme.read_text(), readme


def test_what_a_deployer_fills_in_is_plainly_a_placeholder():
    # before: ghcr.io/your-org/... and github.com/your-org/... looked like working addresses, and the
    # README opened with a Binder badge that led nowhere
    placeholder = "registry.invalid/your-registry/nn-fundamentals"
    files = [ROOT / "README.md", *(p for p in DEPLOY.rglob("*") if p.is_file())]
    for path in files:
        text = path.read_text()
        assert "your-org" not in text, path
        if path.suffix == ".md":  # a clickable link to a placeholder only inside a code block, as a template
            fenced = False
            for line in text.splitlines():
                fenced = not fenced if line.startswith("```") else fenced
                assert fenced or not re.search(r"\]\(https?://[^)]*(OWNER|REPOSITORY|FILL-IN)", line), (path, line)
    yaml_text = "".join(p.read_text() for p in files if p.suffix == ".yaml")
    images = set(re.findall(r"image: (\S+)", yaml_text)) | set(re.findall(r"name: (\S+/nn-fundamentals)\b", yaml_text))
    assert images == {f"{placeholder}:0.1.0", placeholder}, images  # .invalid never resolves: fails loudly
    for readme in (ROOT / "README.md", DEPLOY / "README.md"):
        for line in readme.read_text().splitlines():
            if line.startswith(("REPO=", "IMAGE=", "A=01_perceptron IMAGE=")):
                assert "=FILL-IN " in line, line
