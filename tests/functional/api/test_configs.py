"""/api/v1/configs: storing config versions and deploying one."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kefu.platform.identity.models import Role
from tests.functional.api.conftest import Actor, error, error_fields, snapshot

FILES = {
    "tenant.kefu": 'tenant demo {\n  name "Demo"\n  locales en\n  timezone "Asia/Shanghai"\n}\n\n'
                   'channel voice "+861000" -> main\n\ninclude "flows/main.kefu"\n',
    "flows/main.kefu": 'flow main {\n  say welcome "Welcome. 欢迎致电。"\n  hangup goodbye "Goodbye."\n}\n',
}
BROKEN = {"tenant.kefu": 'tenant demo {\n  name "Demo"\n  locales en\n}\n\nqueue q {\n  strategy fastest\n}\n'}


def _store(actor: Actor, files: dict[str, str] = FILES, message: str = "") -> dict[str, Any]:
    return actor.bearer.api("POST", "/configs", {"files": files, "message": message},  # type: ignore[no-any-return]
                            status=201).json


def test_store_a_version(alice: Actor) -> None:
    version = _store(alice, message="  first cut ")
    assert version["version"] == 1
    assert version["status"] == "valid"
    assert version["source"] == FILES  # byte for byte, whitespace kept
    assert version["message"] == "first cut"
    assert version["author_user_id"] == str(alice.user.id)
    assert version["diagnostics"] == []
    assert version["deployed_at"] is None
    canonical = json.dumps(FILES, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert version["source_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    detail = alice.web.api("GET", f"/configs/{version['id']}").json
    assert detail == version
    assert len(detail["compiled_hash"]) == 64


def test_a_config_with_errors_is_stored_invalid_with_its_diagnostics(alice: Actor) -> None:
    version = _store(alice, BROKEN)
    assert version["status"] == "invalid"
    assert version["compiled_hash"] is None
    problems = [d for d in version["diagnostics"] if d["severity"] == "error"]
    assert problems, version["diagnostics"]
    assert {(d["file"], d["line"]) for d in problems} >= {("tenant.kefu", 7)}
    response = alice.bearer.api("POST", f"/configs/{version['id']}/deploy", status=409)
    assert "fix its diagnostics first" in error(response)["message"]


def test_plan_tells_what_would_change_against_the_deployed_version(alice: Actor) -> None:
    first = _store(alice)
    alice.bearer.api("POST", f"/configs/{first['id']}/deploy", status=200)
    changed = dict(FILES)
    changed["flows/main.kefu"] = changed["flows/main.kefu"].replace('"Goodbye."', '"再见。"')
    plan = alice.bearer.api("POST", "/configs/plan", {"files": changed}, status=200).json
    assert plan["ok"] is True
    assert plan["changes"], plan
    assert any("goodbye" in line for line in plan["changes"]), plan["changes"]
    same = alice.bearer.api("POST", "/configs/plan", {"files": FILES}, status=200).json
    assert same["changes"] == []
    broken = alice.bearer.api("POST", "/configs/plan", {"files": BROKEN}, status=200).json
    assert broken["ok"] is False
    assert broken["diagnostics"]
    # Planning stores nothing.
    assert alice.bearer.api("GET", "/configs").json["total"] == 1


def test_the_hash_does_not_depend_on_file_order(alice: Actor, bob: Actor) -> None:
    one = _store(alice, {"a.kefu": "x", "b.kefu": "中文"})
    two = _store(alice, {"b.kefu": "中文", "a.kefu": "x"})
    assert one["source_hash"] == two["source_hash"]
    assert (one["version"], two["version"]) == (1, 2)
    assert _store(alice, {"a.kefu": "x ", "b.kefu": "中文"})["source_hash"] != one["source_hash"]
    assert _store(bob)["version"] == 1  # numbered per tenant


def test_list_leaves_sources_out_and_filters_by_status(alice: Actor) -> None:
    first = _store(alice)
    second = _store(alice)
    alice.bearer.api("POST", f"/configs/{first['id']}/deploy")
    listing = alice.bearer.api("GET", "/configs").json
    assert [v["version"] for v in listing["items"]] == [2, 1]
    assert "source" not in listing["items"][0]
    deployed = alice.bearer.api("GET", "/configs?status=deployed").json
    assert [v["id"] for v in deployed["items"]] == [first["id"]]
    assert alice.bearer.api("GET", "/configs?status=valid").json["items"][0]["id"] == second["id"]
    assert alice.bearer.api("GET", "/configs?limit=1&offset=1").json["items"][0]["version"] == 1


def test_deploy_supersedes_the_deployed_version(alice: Actor, factory: Any) -> None:
    first, second = _store(alice), _store(alice)
    deployed = alice.bearer.api("POST", f"/configs/{first['id']}/deploy").json
    assert deployed["status"] == "deployed"
    assert deployed["deployed_at"] is not None
    alice.bearer.api("POST", f"/configs/{second['id']}/deploy")
    statuses = {v["version"]: v["status"] for v in alice.bearer.api("GET", "/configs").json[
        "items"]}
    assert statuses == {1: "superseded", 2: "deployed"}
    # Deploying the deployed version changes nothing.
    again = alice.bearer.api("POST", f"/configs/{second['id']}/deploy").json
    assert again["deployed_at"] == alice.bearer.api("GET", f"/configs/{second['id']}").json[
        "deployed_at"]
    # Rolling back: an older version can be deployed again.
    alice.bearer.api("POST", f"/configs/{first['id']}/deploy")
    statuses = {v["version"]: v["status"] for v in alice.bearer.api("GET", "/configs").json[
        "items"]}
    assert statuses == {1: "deployed", 2: "superseded"}
    audit = [e for e in snapshot(factory, alice.tenant)["audit_log"]
             if e["action"] == "config.deploy"]
    assert [e["details"]["superseded"] for e in audit] == [[], [1], [], [2]]


def test_an_invalid_version_cannot_be_deployed(alice: Actor, factory: Any) -> None:
    from kefu.platform.configs.models import ConfigStatus, ConfigVersion

    version = _store(alice)
    with factory.session(alice.tenant) as db:
        db.get(ConfigVersion, __import__("uuid").UUID(version["id"])).status = \
            ConfigStatus.INVALID
        db.commit()
    response = alice.bearer.api("POST", f"/configs/{version['id']}/deploy", status=409)
    assert error_fields(response) == ["status"]
    assert "invalid" in error(response)["message"]


def test_who_may_store_and_deploy(alice: Actor, actor: Any) -> None:
    version = _store(alice)
    designer = actor(alice.tenant, Role.DESIGNER)
    designer.web.api("POST", "/configs", {"files": FILES}, status=201)
    designer.web.api("POST", f"/configs/{version['id']}/deploy", status=403)
    analyst = actor(alice.tenant, Role.ANALYST)
    analyst.web.api("POST", f"/configs/{version['id']}/deploy", status=200)
    agent = actor(alice.tenant, Role.AGENT)
    agent.web.api("GET", f"/configs/{version['id']}", status=200)
    agent.web.api("POST", "/configs", {"files": FILES}, status=403)


def test_bad_files_are_named(alice: Actor, factory: Any) -> None:
    before = snapshot(factory, alice.tenant)
    for files, field in [({}, "files"), ({"../etc/passwd": "x"}, "files.../etc/passwd.[key]"),
                         ({"/abs.kefu": "x"}, "files./abs.kefu.[key]"),
                         ({"a b.kefu": "x"}, "files.a b.kefu.[key]"),
                         ({"a.kefu": 5}, "files.a.kefu"), ([], "files")]:
        response = alice.bearer.api("POST", "/configs", {"files": files}, status=422)
        assert error_fields(response) == [field], files
    assert snapshot(factory, alice.tenant) == before


def test_plan_compares_with_the_callers_own_deployed_version(alice: Actor, bob: Actor) -> None:
    mine = _store(alice)
    alice.bearer.api("POST", f"/configs/{mine['id']}/deploy", status=200)
    # Bob's tenant has nothing deployed: everything in the files is new to him.
    theirs = bob.bearer.api("POST", "/configs/plan", {"files": FILES}, status=200).json
    assert theirs["changes"] != []
    assert alice.bearer.api("POST", "/configs/plan", {"files": FILES}).json["changes"] == []
