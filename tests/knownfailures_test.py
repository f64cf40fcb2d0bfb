"""Known failures: profile rules matched against a failed step's facts and new log text."""

from __future__ import annotations

from pathlib import Path

import pytest

from spdeploy.errors import ProfileError
from spdeploy.knownfailures import Hit, diagnose, log_paths, new_text, parse_rules, snapshot

LMEILOG = "Connect/Exchconn/Setup/lmeilog.txt"


def _no_check(values: tuple[str, ...], where: str) -> None:
    pass


def _rules(*entries: dict[str, object]):  # type: ignore[no-untyped-def]
    return parse_rules(list(entries), "p.toml: component 'a': key 'known_failures'", _no_check)


def _temp_rule(**overrides: object) -> dict[str, object]:
    rule: dict[str, object] = {
        "match": r"\[8007010b\]",
        "in": LMEILOG,
        "article": "Q198857",
        "remedy": "create a Temp folder in the root of the drive",
    }
    return {**rule, **overrides}


def test_a_rule_matches_what_the_step_appended_to_its_log(tmp_path: Path) -> None:
    log = tmp_path / LMEILOG
    log.parent.mkdir(parents=True)
    log.write_text("MEXIEXTN: Started\n")
    rules = _rules(_temp_rule())
    before = snapshot(log_paths(rules, lambda rel: tmp_path / rel))
    log.write_text(
        "MEXIEXTN: Started\nERROR: unable to install lsntscp0 admin extension [8007010b]\n"
    )
    hits = diagnose(rules, {}, lambda rel: tmp_path / rel, before)
    assert hits == (
        Hit("Q198857", "create a Temp folder in the root of the drive", "[8007010b]", str(log)),
    )


def test_an_old_error_in_an_appended_log_does_not_match(tmp_path: Path) -> None:
    log = tmp_path / "lmeilog.txt"
    log.write_text("ERROR: ... [8007010b]\n")
    before = snapshot([log])
    log.write_text("ERROR: ... [8007010b]\nSetup is exiting\n")
    assert new_text(log, before[str(log)]) == "Setup is exiting\n"
    # a log rewritten from scratch is read whole
    log.write_text("[8007010b] again\n")
    assert new_text(log, before[str(log)]) == "[8007010b] again\n"
    # a log that appeared during the step is read whole; one that is gone reads as nothing
    fresh = tmp_path / "new.txt"
    gone = snapshot([fresh])
    fresh.write_text("hello\n")
    assert new_text(fresh, gone[str(fresh)]) == "hello\n"
    assert new_text(tmp_path / "missing.txt", None) == ""


def test_step_facts_and_several_places(tmp_path: Path) -> None:
    output = tmp_path / "ntsconn.log"
    output.write_text("Could not open file E:\\Program Files\\Exchsrvr\\LMEISTAT.TXT\n")
    rules = _rules(
        _temp_rule(match="^1603$", **{"in": "exit_code"}, article="K1"),
        _temp_rule(match="^timeout$", **{"in": "status"}, article="K2"),
        _temp_rule(match=" ", **{"in": "target"}, article="K3"),
        _temp_rule(match="LMEISTAT", **{"in": [LMEILOG, "output"]}, article="K4"),
    )
    facts = {
        "exit_code": "1603",
        "status": "failed",
        "target": "C:/Exchange Server",
        "output": str(output),
    }
    hits = diagnose(rules, facts, lambda rel: tmp_path / rel, {})
    assert [(h.article, h.where) for h in hits] == [
        ("K1", "exit code"),
        ("K3", "target"),
        ("K4", "the installer's output"),
    ]
    assert hits[0].as_dict() == {
        "article": "K1",
        "remedy": hits[0].remedy,
        "match": "1603",
        "in": "exit code",
    }


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (_temp_rule(match="[8007010b"), "match: bad regex"),
        (_temp_rule(match=""), "match: expected a non-empty string"),
        (_temp_rule(remedy=" "), "remedy: expected a non-empty string"),
        ({"match": "x", "in": "exit_code", "article": "Q1"}, "missing key 'remedy'"),
        ({**_temp_rule(), "where": "log"}, "unknown key 'where'"),
        (_temp_rule(**{"in": []}), "expected exit_code, status, target, output or a log path"),
        (_temp_rule(**{"in": 3}), "expected exit_code, status, target, output or a log path"),
        ("Q198857", "expected a table"),
    ],
)
def test_bad_rules_name_the_entry_and_the_key(entry: object, problem: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_rules([entry], "p.toml: component 'a': key 'known_failures'", _no_check)
    assert "p.toml: component 'a': key 'known_failures'[0]" in caught.value.message
    assert problem in caught.value.message


def test_rules_must_be_a_list() -> None:
    with pytest.raises(ProfileError, match="expected a list"):
        parse_rules({"match": "x"}, "where", _no_check)
