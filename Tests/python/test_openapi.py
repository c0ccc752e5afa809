"""docs/openapi.yaml against itself and against a running demo region.

1. The file is a valid OpenAPI 3.1 description (openapi-spec-validator).
2. (Tests/KotoNodeTests/OpenAPIRoutesTests.swift: its paths and methods are exactly the router's.)
3. Real requests and answers of the five demo nodes validate against it (openapi-core): requests
   the node accepts are valid requests, requests it refuses as invalid are invalid ones, and every
   answer (status, headers, body) is one the description allows. The roles each operation lists
   are checked too: a role it does not list gets 403, no credential 401.

Failure messages name the request, the status and the validator's error path and keyword only:
never a body, which may hold personal data.
"""
import copy
import json
import os
import threading
import time
import urllib.parse
import uuid

import pytest
import yaml
from jsonschema.exceptions import ValidationError as SchemaError
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from openapi_spec_validator import OpenAPIV31SpecValidator
from werkzeug.datastructures import Headers, ImmutableMultiDict

from conftest import MUNICIPALITY, NODES, ROOT

SPEC_PATH = os.path.join(ROOT, "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
KINDS = {"services": "service", "clients": "client", "placements": "placement"}
ROLES = ["office", "coordinator", "admin", "scrape", "peer"]


@pytest.fixture(scope="module")
def spec_dict():
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def strict_text(value, **parameters):
    """Text bodies (CSV, CSS, JavaScript) as strings when they are valid UTF-8; raw bytes fail `type: string`."""
    try:
        return value.decode(parameters.get("charset", "utf-8"))
    except (UnicodeDecodeError, LookupError):
        return value


@pytest.fixture(scope="module")
def openapi(spec_dict):
    text = {media_type: strict_text for media_type in ("text/csv", "text/css", "text/javascript", "text/html", "text/plain")}
    return OpenAPI.from_dict(copy.deepcopy(spec_dict), config=Config(extra_media_type_deserializers=text))


# MARK: - Validation helpers


class _Request:
    """What openapi-core reads of a request (its `Request` protocol)."""

    def __init__(self, base_url, method, path, body, headers):
        parts = urllib.parse.urlsplit(path)
        self.host_url = base_url
        self.path = parts.path
        self.method = method.lower()
        self.body = body
        header = Headers()
        for name, value in headers.items():
            header.add(name, value)
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
            header=header)
        self.content_type = headers.get("Content-Type", "application/octet-stream")


class _Response:
    def __init__(self, answer):
        self.status_code = answer.status
        self.headers = Headers(list(answer.headers.items()))
        self.content_type = answer.headers.get("Content-Type", "")
        self.data = answer.body


def _schema_errors(error, depth=0):
    """The validator's findings, by path and keyword: never the value itself."""
    lines = []
    if isinstance(error, SchemaError):
        where = error.json_path
        what = error.validator
        detail = ""
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            detail = " unexpected " + ",".join(sorted(set(error.instance) - allowed))
        elif error.validator == "required" and isinstance(error.instance, dict):
            detail = " missing " + ",".join(sorted(set(error.validator_value) - set(error.instance)))
        elif error.validator in ("enum", "const", "type", "format", "pattern", "minimum", "maximum",
                                 "minItems", "maxItems", "maxLength"):
            detail = f" {error.validator_value!r}"[:120]
        lines.append("  " * depth + f"{where}: {what}{detail}")
        for sub in sorted(error.context or [], key=lambda e: list(e.path))[:12]:
            lines += _schema_errors(sub, depth + 1)
        return lines
    if isinstance(error, InvalidSchemaValue):
        for sub in error.schema_errors:
            lines += _schema_errors(sub, depth)
        return lines
    name = type(error).__name__
    where = ", ".join(f"{attr}={getattr(error, attr)}" for attr in ("location", "name", "mimetype")
                      if isinstance(getattr(error, attr, None), str))
    lines.append("  " * depth + name + (f" ({where})" if where else ""))
    if name.endswith("NotFound") and "Request" not in name:
        lines[-1] += ": " + str(error)[:200]
    for sub in getattr(error, "errors", None) or []:
        lines += _schema_errors(sub, depth + 1)
    cause = error.__cause__ or error.__context__
    if cause is not None and depth < 6:
        lines += _schema_errors(cause, depth + 1)
    return lines


def explain(error):
    return "\n".join(_schema_errors(error))


class Checker:
    """Sends requests to the demo region and checks them and their answers against the description."""

    def __init__(self, region, openapi):
        self.region = region
        self.openapi = openapi

    def headers_for(self, role, node, as_peer, headers, body):
        sent = {}
        if role is not None:
            token = self.region.token("peer", as_peer) if role == "peer" and as_peer else self.region.token(role, node)
            sent["Authorization"] = "Bearer " + token
        if body is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        return sent

    def send(self, method, path, node="jakobstad", role="coordinator", body=None, headers=None,
             as_peer=None, request_valid=True, status=None):
        """Sends the request and validates it and its answer; returns the answer.

        `as_peer`: with role "peer", the node whose peer credential is shown (another than `node`).
        `request_valid`: False when the description must refuse the request too; None when it does not
        decide (a role the operation does not list is refused by the node, not by the request's shape).
        `status`: the status the answer must have (an int or a set of them).
        """
        __tracebackhide__ = True  # a failure shows the message, not this frame's arguments (a body)
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        sent = self.headers_for(role, node, as_peer, headers, body)
        answer = self.region.request(method, path, node=node, role=None, body=data, headers=sent)
        label = f"{method} {urllib.parse.urlsplit(path).path} on {node} as {role or 'nobody'} -> {answer.status}"
        if status is not None:
            expected = status if isinstance(status, (set, frozenset)) else {status}
            code = ""
            if answer.headers.get("Content-Type", "").startswith("application/json") and answer.status >= 400:
                code = " " + answer.json().get("error", {}).get("code", "?")
            assert answer.status in expected, f"{label}{code}, expected {sorted(expected)}"
        request = _Request(self.region.url(node), method, path, data, sent)
        # Failures are raised outside the `except` blocks: a chained validator error would print the value.
        problem = None
        if request_valid is not None:
            refusal = None
            try:
                self.openapi.validate_request(request)
            except Exception as error:  # the validator's errors are many types; each one is a refusal
                refusal = explain(error)
            if request_valid and refusal is not None:
                problem = f"{label}: the description refuses a request the node takes:\n{refusal}"
            elif not request_valid and refusal is None:
                problem = f"{label}: the description accepts a request the node refuses"
        if problem is None:
            try:
                self.openapi.validate_response(request, _Response(answer))
            except Exception as error:
                problem = f"{label}: the answer does not fit the description:\n{explain(error)}"
        if problem is not None:
            pytest.fail(problem)
        return answer


@pytest.fixture(scope="module")
def check(region, openapi):
    return Checker(region, openapi)


def first_id(check, table, node="jakobstad", query=""):
    items = check.send("GET", f"/v1/{table}?limit=5{query}", node=node, status=200).json()["items"]
    assert items, f"no {table} in the demo data on {node}"
    return items[0]["id"]


def wait_for(condition, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


# MARK: - 1. The file


def test_the_file_is_valid_openapi_3_1(spec_dict):
    assert spec_dict["openapi"] == "3.1.0"
    errors = [f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
              for e in OpenAPIV31SpecValidator(spec_dict).iter_errors()]
    assert not errors, "docs/openapi.yaml is not valid OpenAPI 3.1:\n" + "\n".join(errors[:20])


def test_every_operation_names_its_roles_and_errors(spec_dict):
    """Each operation says who may use it and answers every status the router can give it."""
    declared = set()
    for path, item in spec_dict["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            label = f"{method.upper()} {path}"
            assert "security" in operation, f"{label} does not say which roles may use it"
            responses = operation["responses"]
            # Only /healthz cannot fail: its handler throws nothing.
            assert "500" in responses or path == "/healthz", f"{label} lacks the 500 answer"
            assert "503" in responses, f"{label} lacks the 503 answer"
            requirements = operation["security"]
            if requirements:
                roles = requirements[0]["bearer"]
                assert roles and set(roles) <= set(ROLES), f"{label}: roles {roles}"
                declared.update(roles)
                assert "401" in responses, f"{label} lacks 401"
                assert "403" in responses or set(roles) == set(ROLES), f"{label} lacks 403"
            if "requestBody" in operation:
                assert "413" in responses, f"{label} takes a body but lacks 413"
    assert declared == set(ROLES), f"roles no operation opens: {set(ROLES) - declared}"


# MARK: - 3. Real answers


def test_lists_and_filters(check):
    for table in KINDS:
        page = check.send("GET", f"/v1/{table}?limit=3", status=200).json()
        assert len(page["items"]) == 3 and page["next"] == page["items"][-1]["id"]
        check.send("GET", f"/v1/{table}?limit=2&after={page['next']}", status=200)
        check.send("GET", f"/v1/{table}?includeDeleted=true&includeErased=true&limit=1000", status=200)
        check.send("GET", f"/v1/{table}?conflicted=false", node="kronoby", role="office", status=200)
    found = check.send("GET", "/v1/services?status=active&municipalities=598&languages=sv&limit=5", status=200).json()
    assert found["items"], "no active Swedish-language service for Jakobstad in the demo data"
    check.send("GET", "/v1/clients?ownerMunicipality=288&jobseeker=true&integrationLanguage=sv&limit=5",
               node="larsmo", status=200)
    check.send("GET", "/v1/placements?type=municipal_placement&limit=5", node="pedersore", status=200)
    service = first_id(check, "services")
    check.send("GET", f"/v1/placements?serviceId={service}&limit=5", status=200)


def test_impossible_filters_are_refused_by_both(check):
    for path in ("/v1/services?status=closed", "/v1/services?limit=0", "/v1/services?limit=1001",
                 "/v1/clients?birthDate=1990-13-01", "/v1/placements?clientId=42", "/v1/clients?jobseeker=maybe",
                 "/v1/services?capacity=-1"):
        answer = check.send("GET", path, status=400, request_valid=False)
        assert answer.json()["error"]["code"] == "invalid_query"
    # A parameter the description does not name: the node refuses it (the description cannot forbid extras).
    assert check.send("GET", "/v1/services?colour=blue", status=400).json()["error"]["problems"][0]["field"] == "colour"


def test_single_records(check):
    for table in KINDS:
        record_id = first_id(check, table, node="nykarleby")
        record = check.send("GET", f"/v1/{table}/{record_id}", node="nykarleby", role="office", status=200).json()
        assert record["id"] == record_id and "stamps" in record
        check.send("GET", f"/v1/{table}/{uuid.uuid4()}", status=404)


def new_service(**overrides):
    body = {"nameFi": "OpenAPI-testikurssi", "nameSv": "OpenAPI-testkurs", "providerName": "Testi",
            "providerType": "ngo", "category": "language_course", "municipalities": [598, 599],
            "languages": ["fi", "sv"], "studyPath": "none", "capacity": 10, "status": "active"}
    body.update(overrides)
    return body


def test_record_life_cycle(check):
    created = check.send("POST", "/v1/services", role="office", body=new_service(), status=201)
    service = created.json()
    sid = service["id"]
    assert created.headers["Location"] == f"/v1/services/{sid}"
    # Comma-separated list fields are taken as well as arrays.
    check.send("POST", "/v1/services", role="office", body=new_service(municipalities="598,893", languages="fi"),
               status=201)
    check.send("POST", "/v1/services", role="office", body=new_service(id=sid), status=409)
    check.send("POST", "/v1/services", role="office", body=b"{not json", status=400, request_valid=False)
    for invalid in (new_service(status="open"), new_service(colour="blue"), new_service(nameFi=None, nameSv=None),
                    {"nameFi": "x"}, new_service(capacity="many"), new_service(municipalities=[])):
        answer = check.send("POST", "/v1/services", role="office", body=invalid, status=422, request_valid=False)
        assert answer.json()["error"]["code"] == "validation_failed"

    check.send("PATCH", f"/v1/services/{sid}", role="office", body={"capacity": 12, "status": "full"}, status=200)
    check.send("PATCH", f"/v1/services/{sid}", role="office", body={"status": None}, status=422, request_valid=False)
    check.send("PATCH", f"/v1/services/{sid}", role="office", body={}, status=422, request_valid=False)
    check.send("PATCH", f"/v1/services/{sid}", role="office", body={"endDate": "2000-01-01", "startDate": "2001-01-01"},
               status=422)
    check.send("DELETE", f"/v1/services/{sid}", role="office", status=204)
    assert check.send("GET", f"/v1/services/{sid}", status=200).json()["deleted"] is True
    check.send("PATCH", f"/v1/services/{sid}", role="office", body={"capacity": 1}, status=404)
    check.send("DELETE", f"/v1/services/{sid}", role="office", status=404)
    check.send("POST", f"/v1/services/{sid}/restore", role="office", status=200)
    erased = check.send("POST", f"/v1/services/{sid}/erase", role="office", status=200).json()
    assert erased["erased"] is True
    check.send("GET", f"/v1/services/{sid}", status=200)
    check.send("POST", f"/v1/services/{sid}/erase", role="office", status=410)
    check.send("PATCH", f"/v1/services/{sid}", role="office", body={"capacity": 1}, status=410)
    check.send("GET", "/v1/services?includeErased=true&limit=1000", status=200)


def test_clients_and_placements_are_created(check):
    client = check.send("POST", "/v1/clients", node="larsmo", role="office", status=201, body={
        "clientNumber": "440-OA-1", "ownerMunicipality": 440, "givenName": "Testi", "familyName": "Henkilö",
        "birthDate": "1990-01-01", "integrationLanguage": "sv", "planStatus": "active", "planStart": "2026-01-10",
        "status": "plan_active"}).json()
    check.send("POST", "/v1/clients", node="larsmo", role="office", status=422, request_valid=False, body={
        "clientNumber": "440-OA-2", "ownerMunicipality": 440, "givenName": "Testi", "familyName": "Henkilö",
        "birthDate": "1990-01-01", "integrationLanguage": "sv", "planStatus": "active", "status": "plan_active"})
    service = first_id(check, "services", node="larsmo", query="&status=active")
    check.send("POST", "/v1/placements", node="larsmo", role="office", status=201, body={
        "type": "service_enrolment", "clientId": client["id"], "serviceId": service, "referralDate": "2026-02-01",
        "status": "referred"})
    check.send("POST", "/v1/placements", node="larsmo", role="office", status=201, body={
        "type": "municipal_placement", "clientId": client["id"], "municipality": 440, "route": "quota",
        "offeredDate": "2026-03-01", "status": "offered"})
    for invalid in ({"type": "municipal_placement", "clientId": client["id"], "status": "offered"},
                    {"type": "service_enrolment", "clientId": client["id"], "serviceId": service, "status": "arrived"},
                    {"type": "service_enrolment", "clientId": client["id"], "serviceId": service, "status": "active",
                     "route": "quota"}):
        check.send("POST", "/v1/placements", node="larsmo", role="office", status=422, request_valid=False, body=invalid)


def make_conflict(check):
    """A service written concurrently at two offices: an open conflict on its capacity."""
    region = check.region
    for attempt in range(10):
        # Serving both municipalities, so each office may write it (office scopes).
        sid = check.send("POST", "/v1/services", role="office",
                         body=new_service(nameFi=f"Ristiriita {attempt}", municipalities=[598, 893]), status=201).json()["id"]
        wait_for(lambda: region.request("GET", f"/v1/services/{sid}", node="nykarleby").status == 200,
                 "the new service to reach nykarleby")
        barrier = threading.Barrier(2)
        answers = {}

        def write(node, capacity):
            barrier.wait()
            answers[node] = region.request("PATCH", f"/v1/services/{sid}", node=node, role="office",
                                           body={"capacity": capacity})

        threads = [threading.Thread(target=write, args=("jakobstad", 100 + attempt)),
                   threading.Thread(target=write, args=("nykarleby", 200 + attempt))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(answer.status == 200 for answer in answers.values()), "a concurrent write failed"

        def settled():
            records = [region.request("GET", f"/v1/services/{sid}", node=n).json() for n in ("jakobstad", "nykarleby")]
            stamps = {json.dumps(r["stamps"]["capacity"], sort_keys=True) for r in records}
            return records if len(stamps) == 1 else None

        records = wait_for(settled, "both offices to hold both writes")
        if records[0]["openConflicts"] > 0:
            return sid
    raise AssertionError("ten pairs of concurrent writes made no conflict")


def test_conflicts(check, region):
    sid = make_conflict(check)
    listed = check.send("GET", "/v1/conflicts?kind=services", status=200).json()["items"]
    mine = [c for c in listed if c["rowId"] == sid]
    assert mine, "the conflict is not listed"
    check.send("GET", "/v1/conflicts", role="admin", node="nykarleby", status=200)
    check.send("GET", "/v1/conflicts?kind=animals", status=400, request_valid=False)
    record = check.send("GET", f"/v1/services/{sid}", status=200).json()
    assert record["conflicts"], "the record shows no conflict"
    assert check.send("GET", "/v1/services?conflicted=true&limit=1000", status=200).json()["items"]
    conflict_id = mine[0]["id"]
    assert conflict_id == f"services:{sid}:capacity"
    # An office resolves its own municipality's conflicts only: the service serves 598 and 599, not Kronoby.
    wait_for(lambda: any(c["id"] == conflict_id for c in region.request("GET", "/v1/conflicts", node="kronoby").json()["items"]),
             "kronoby to hold the conflict")
    check.send("POST", f"/v1/conflicts/{conflict_id}/resolve", node="kronoby", role="office", body={"value": 1}, status=403)
    check.send("POST", f"/v1/conflicts/{conflict_id}/resolve", role="office", body=b"[", status=400, request_valid=False)
    check.send("POST", f"/v1/conflicts/{conflict_id}/resolve", role="office", body={"choice": 1}, status=422,
               request_valid=False)
    check.send("POST", f"/v1/conflicts/{conflict_id}/resolve", role="coordinator",
               body={"value": "many"}, status=422)
    resolved = check.send("POST", f"/v1/conflicts/{conflict_id}/resolve", role="coordinator",
                          body={"value": 150}, status=200).json()
    assert resolved["fields"]["capacity"] == 150
    check.send("POST", f"/v1/conflicts/{conflict_id}/resolve", role="coordinator",
               body={"value": 150}, status=404)


def test_status(check):
    for node in NODES:
        status = check.send("GET", "/v1/status", node=node, role="admin", status=200).json()
        assert status["node"] == node
    check.send("GET", "/v1/status", node="kronoby", role="coordinator", status=200)


def test_sync_endpoints_as_a_peer(check, region):
    state = check.send("GET", "/v1/sync/state?node=jakobstad", node="kronoby", role="peer", as_peer="jakobstad",
                       status=200).json()
    assert state["node"] == "kronoby"
    check.send("GET", "/v1/sync/state?node=larsmo", node="kronoby", role="peer", as_peer="jakobstad", status=403)
    check.send("GET", "/v1/sync/state", node="kronoby", role="peer", as_peer="jakobstad", status=400,
               request_valid=False)
    own = region.status("jakobstad")
    peer_headers = {"Kotosync-Node": "jakobstad", "Kotosync-Protocol": "3", "Kotosync-Schema": str(own["schemaVersion"])}
    pull = {"node": "jakobstad", "protocol": 3, "schema": own["schemaVersion"], "versionVector": own["versionVector"],
            "since": 0, "limit": 5, "heads": {}, "clock": int(time.time() * 1000)}
    batch = check.send("POST", "/v1/sync/pull", node="kronoby", role="peer", as_peer="jakobstad", body=pull,
                       headers=peer_headers, status=200)
    assert batch.body[:4] == b"KSYB" and batch.headers["Content-Type"] == "application/x-kotosync-batch"
    check.send("POST", "/v1/sync/pull", node="kronoby", role="peer", as_peer="jakobstad",
               body=dict(pull, limit=0), headers=peer_headers, status=400, request_valid=False)
    check.send("POST", "/v1/sync/pull", node="kronoby", role="peer", as_peer="jakobstad",
               body=dict(pull, node="larsmo"), headers=peer_headers, status=403)
    snapshot = check.send("GET", "/v1/sync/snapshot?node=jakobstad", node="kronoby", role="peer", as_peer="jakobstad",
                          headers=peer_headers, status=200)
    assert snapshot.body[:5] == b"KSNP\x01" and snapshot.headers["Content-Type"] == "application/vnd.kotosync.snapshot"
    check.send("GET", "/v1/sync/snapshot?node=larsmo", node="kronoby", role="peer", as_peer="jakobstad",
               headers=peer_headers, status=403)
    check.send("POST", "/v1/sync/notify", node="kronoby", role="peer", as_peer="jakobstad", body={"node": "jakobstad"},
               headers=peer_headers, status=202)
    check.send("POST", "/v1/sync/notify", node="kronoby", role="peer", as_peer="jakobstad", body={"peer": 1},
               headers=peer_headers, status=400, request_valid=False)
    check.send("POST", "/v1/sync/push", node="kronoby", role="peer", as_peer="jakobstad", body=b"KSYB",
               headers={"Kotosync-Protocol": "3", "Kotosync-Schema": "2", "Kotosync-Log-Position": "0",
                        "Content-Type": "application/x-kotosync-batch"},
               status=400, request_valid=False)
    check.send("POST", "/v1/sync/push", node="kronoby", role="peer", as_peer="jakobstad", body=b"KSYB",
               headers={**peer_headers, "Kotosync-Log-Position": "0", "Content-Type": "application/x-kotosync-batch"},
               status=400)


def test_health_and_unknown_paths(check, spec_dict, openapi):
    check.send("GET", "/healthz", role=None, status=200)
    answer = check.region.request("GET", "/v1/no-such-thing", role=None)
    assert answer.status == 404
    error_schema = spec_dict["components"]["schemas"]["Error"]
    from openapi_schema_validator import OAS31Validator
    OAS31Validator(error_schema).validate(answer.json())
    assert answer.json()["error"]["code"] == "not_found"


def concrete(check, path):
    """The path with its parameters filled in from the demo data (ids that exist)."""
    if "{clientId}" in path:
        return path.replace("{clientId}", first_id(check, "clients"))
    if "{id}" not in path:
        return path
    table = path.split("/")[2]
    if table in KINDS:
        return path.replace("{id}", first_id(check, table))
    if table == "conflicts":
        return path.replace("{id}", f"services:{uuid.uuid4()}:capacity")
    raise AssertionError(f"no sample value for the parameters of {path}")


def test_methods_a_path_does_not_take_answer_405_with_allow(check, spec_dict, openapi):
    from openapi_schema_validator import OAS31Validator
    error = OAS31Validator(spec_dict["components"]["schemas"]["Error"])
    for path, item in spec_dict["paths"].items():
        described = {m.upper() for m in METHODS if m in item}
        if "GET" in described:
            described.add("HEAD")
        missing = [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if m not in described]
        if not missing:
            continue
        url = concrete(check, path)
        answer = check.region.request(missing[0], url, role="coordinator", body=b"{}" if missing[0] != "GET" else None)
        assert answer.status == 405, f"{missing[0]} {path} -> {answer.status}, expected 405"
        allowed = {m.strip() for m in answer.headers.get("Allow", "").split(",") if m.strip()}
        assert allowed == described, f"{path}: Allow {sorted(allowed)} but described {sorted(described)}"
        error.validate(answer.json())


def test_roles_as_described(check, spec_dict):
    """No credential: 401; a role the operation does not list: 403; one it lists is let in; public ones need none."""
    for path, item in spec_dict["paths"].items():
        url = concrete(check, path)
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            requirements = operation["security"]
            if not requirements:
                if method == "get":
                    answer = check.send("GET", url, role=None)
                    assert answer.status < 400, f"GET {path} without a credential -> {answer.status}"
                continue
            allowed = set(requirements[0]["bearer"])
            check.send(method.upper(), url, role=None, status=401, request_valid=False,
                       body={} if method in ("post", "patch") else None)
            for role in ROLES:
                as_peer = "kronoby" if role == "peer" else None
                if role in allowed:
                    if method == "get":  # reads are safe to repeat: a listed role is let in
                        answer = check.send("GET", url, role=role, as_peer=as_peer, request_valid=None)
                        assert answer.status not in (401, 403), f"GET {path} as {role} -> {answer.status}"
                    continue
                # A node takes other nodes' peer credentials, not its own.
                answer = check.send(method.upper(), url, role=role, as_peer=as_peer, status=403,
                                    body={} if method in ("post", "patch") else None, request_valid=None)
                assert answer.json()["error"]["code"] == "forbidden", f"{method.upper()} {path} as {role}"


# MARK: - Reports, CSV, directory, metrics, page


REPORT_NAMES = ["overview", "deadlines", "placements", "services", "integrity"]


def test_reports(check, spec_dict):
    for name in REPORT_NAMES:
        report = check.send("GET", f"/v1/reports/{name}", status=200).json()
        assert report["report"] == name and report["scope"]["municipality"] is None
        own = check.send("GET", f"/v1/reports/{name}?lang=sv", node="kronoby", role="office", status=200).json()
        assert own["scope"]["municipality"] == MUNICIPALITY["kronoby"] and own["language"] == "sv"
        for table in spec_dict["components"]["schemas"][f"{name.capitalize()}Report"]["properties"]["tables"]["required"]:
            answer = check.send("GET", f"/v1/reports/{name}?format=csv&table={table}&lang=en", status=200)
            assert answer.body.startswith(b"\xef\xbb\xbf"), f"{name}/{table}: CSV without a BOM"
        answer = check.send("GET", f"/v1/reports/{name}", headers={"Accept": "text/csv"}, status=200)
        assert answer.headers["Content-Type"] == "text/csv; charset=utf-8", f"{name}: Accept: text/csv answered otherwise"
        check.send("GET", f"/v1/reports/{name}?lang=de", status=400, request_valid=False)
    check.send("GET", "/v1/reports/placements?year=2025", status=200)
    check.send("GET", "/v1/reports/deadlines?municipality=288&status=overdue", status=200)
    check.send("GET", "/v1/reports/deadlines?status=late", status=400, request_valid=False)


def test_lists_in_csv(check):
    filters = {"services": "status=active", "clients": "ownerMunicipality=440", "placements": "type=municipal_placement"}
    for table, query in filters.items():
        answer = check.send("GET", f"/v1/{table}?{query}&format=csv&lang=sv", status=200)
        assert answer.body.startswith(b"\xef\xbb\xbf") and b"\r\n" in answer.body
        assert answer.headers["Content-Disposition"] == f'attachment; filename="{table}.csv"'
        answer = check.send("GET", f"/v1/{table}?{query}", headers={"Accept": "text/csv"}, status=200)
        assert answer.headers["Content-Type"] == "text/csv; charset=utf-8", f"{table}: Accept: text/csv answered otherwise"
        # A CSV is every record the filters select, never a page.
        check.send("GET", f"/v1/{table}?limit=5&format=csv", status=400)
    check.send("GET", "/v1/services?format=xml", status=400, request_valid=False)
    answer = check.send("GET", "/v1/conflicts?format=csv&lang=en", status=200)
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8", "GET /v1/conflicts?format=csv answered otherwise"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="conflicts.csv"'
    check.send("GET", "/v1/conflicts?format=csv&limit=5", status=400)


def test_audit(check):
    """The access log: a period (JSON and CSV), the chain's check, one client's entries; refusals."""
    client = first_id(check, "clients")
    # A coordinator's read of a client is a personal-data read: it is logged.
    check.send("GET", f"/v1/clients/{client}", headers={"X-Purpose": "openapi test"}, status=200)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    period = check.send("GET", f"/v1/audit?from={today}&to={today}", role="admin", status=200).json()
    assert any(client in entry["ids"] and entry["purpose"] == "openapi test" for entry in period["items"]), \
        "the coordinator's read of a client is not in the access log"
    answer = check.send("GET", f"/v1/audit?from={today}&to={today}&format=csv", status=200)
    assert answer.body.startswith(b"\xef\xbb\xbf") and b"\r\n" in answer.body
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    verified = check.send("GET", "/v1/audit/verify", status=200).json()
    assert verified["ok"] is True and verified["broken"] is None, f"the access log does not verify: {verified['broken']}"
    subject = check.send("GET", f"/v1/audit/subject/{client}", status=200).json()
    assert subject["items"] and all(client in entry["ids"] or entry["kind"] == "placements" for entry in subject["items"])
    check.send("GET", "/v1/audit?from=2026-02-30&to=2026-03-01", status=400, request_valid=None)
    check.send("GET", f"/v1/audit?from={today}", status=400, request_valid=False)
    check.send("GET", "/v1/audit/verify", role="office", status=403, request_valid=None)


def test_directory(check):
    listed = check.send("GET", "/v1/directory", role=None, status=200).json()
    assert listed["items"], "the directory lists no service"
    check.send("GET", "/v1/directory?municipality=288&language=sv&category=language_course&q=svenska&lang=sv",
               role=None, status=200)
    check.send("GET", "/v1/directory?category=cooking", role=None, status=400, request_valid=False)
    check.send("GET", "/directory?lang=en", role=None, status=200)


def test_metrics(check):
    answer = check.send("GET", "/metrics", role="admin", status=200)
    assert b"kotosync_" in answer.body
    check.send("GET", "/metrics", role="scrape", node="larsmo", status=200)


def test_page_and_assets(check):
    for path in ("/", "/assets/app.css", "/assets/app.js"):
        answer = check.send("GET", path, role=None, status=200)
        check.send("GET", path, role=None, headers={"If-None-Match": answer.headers["ETag"]}, status=304)
    assert check.send("GET", "/", role=None, headers={"Accept-Language": "sv-FI, en;q=0.5"},
                      status=200).headers["Content-Language"] == "sv"


def test_who_schema_region(check):
    for role in ("office", "coordinator", "admin"):
        me = check.send("GET", "/v1/whoami", role=role, status=200).json()
        assert me["role"] == role
    check.send("GET", "/v1/schema", status=200)
    check.send("GET", "/v1/region", role=None, status=200)
    check.send("GET", "/v1/whoami", node="kronoby", role="peer", as_peer="jakobstad", status=200)


def resolve(spec_dict, schema):
    """A schema with a top-level `$ref` (and a nullable `oneOf` around one) followed."""
    while True:
        if "$ref" in schema:
            schema = spec_dict["components"]["schemas"][schema["$ref"].split("/")[-1]]
        elif "oneOf" in schema and len(schema["oneOf"]) == 2 and {"type": "null"} in schema["oneOf"]:
            schema = next(s for s in schema["oneOf"] if s != {"type": "null"})
        else:
            return schema


def test_record_fields_match_the_schema_the_node_serves(check, spec_dict):
    """Names, required fields, vocabularies and bounds of every record field as `GET /v1/schema` gives them."""
    served = check.send("GET", "/v1/schema", status=200).json()
    schemas = spec_dict["components"]["schemas"]
    for kind in served["kinds"]:
        Name = kind["kind"].capitalize()
        create = schemas[f"{Name}Create"]
        described = set(create["properties"]) - {"id", "deleted"}
        names = {field["name"] for field in kind["fields"]}
        assert described == names, f"{kind['table']}: described {sorted(described - names)}, served {sorted(names - described)}"
        assert set(create["required"]) == {f["name"] for f in kind["fields"] if f["required"]}, f"{kind['table']}: required"
        for field in kind["fields"]:
            label = f"{kind['table']}.{field['name']}"
            schema = resolve(spec_dict, create["properties"][field["name"]])
            if field["type"] == "choice":
                assert set(schema["enum"]) - {None} == set(field["allowed"]), f"{label}: vocabulary"
            if "maxLength" in field:
                assert schema["maxLength"] == field["maxLength"], f"{label}: maxLength"
            if "min" in field:
                assert (schema["minimum"], schema["maximum"]) == (field["min"], field["max"]), f"{label}: bounds"
            personal = create["properties"][field["name"]].get("x-personal", False)
            assert personal == field["personal"], f"{label}: x-personal"
