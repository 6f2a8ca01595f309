"""Training-data export: one JSON object per recorded decision, with the documented keys, the
reviewer's verdict or edit, and redacted values kept redacted."""

from __future__ import annotations

import argparse
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from handrail.cli.stats import register
from handrail.reports.export import KEYS, SCHEMA, export_jsonl
from handrail.settings import HandrailSettings
from handrail.storage.ledger import RunLedger, ledger_url
from tests.ledger_factory import (
    REDACTED,
    T0,
    answer_step,
    email_args,
    refund_args,
    reviewed_refunds,
    run,
    tool_step,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "training-data.md"


@pytest.fixture
def ledger(tmp_path: Path) -> RunLedger:
    found = RunLedger(tmp_path / "ledger.db")
    found.write_many(
        [
            run(
                "t-edit",
                [
                    tool_step(0, "get_order", {"order_id": 1003}),
                    tool_step(
                        1,
                        "issue_refund",
                        refund_args("80.00"),
                        gate="review",
                        verdict="edit",
                        reviewer="bob",
                        edited=refund_args("40.00"),
                    ),
                    tool_step(2, "send_email", email_args(), deferred=True),
                    answer_step(3, "Refunded 40.00."),
                ],
            ),
            *reviewed_refunds(["reject"], start=T0 + timedelta(days=1)),
        ]
    )
    return found


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_object_per_decision_with_the_documented_keys(
    ledger: RunLedger, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "decisions.jsonl"
    assert export_jsonl(ledger, out) == 5
    lines = _lines(out)
    assert len(lines) == 5
    for line in lines:
        assert list(line) == [key for key in KEYS if key != "context"]  # no context recorded
        assert line["schema"] == SCHEMA
    assert [(line["task_id"], line["step"]) for line in lines] == [
        ("t-edit", 1),
        ("t-edit", 2),
        ("t-edit", 3),
        ("t-edit", 4),
        ("rev-0", 1),
    ]

    edited = lines[1]
    assert edited["decision"]["tool"] == "issue_refund"
    assert edited["decision"]["arguments"]["amount"] == "80.00"  # what the model proposed
    assert edited["decision"]["confidence"] == 0.9
    assert edited["decision"]["rationale"] == "because issue_refund"
    assert edited["gate"] == {"action": "review", "reason": "review by test"}
    assert edited["review"]["verdict"] == "edit"
    assert edited["review"]["reviewer"] == "bob"
    assert edited["review"]["arguments"]["amount"] == "40.00"  # what the reviewer made of it
    assert edited["outcome"]["ok"] is True
    assert edited["category"] == "approved"
    assert edited["task_status"] == "answered"
    assert [p["tool"] for p in edited["previous"]] == ["get_order"]

    final = lines[3]
    assert final["decision"]["kind"] == "final_answer"
    assert final["decision"]["answer"] == "Refunded 40.00."
    assert final["previous"][1]["arguments"]["amount"] == "40.00"  # as it ran: the edit
    rejected = lines[4]
    assert (rejected["review"]["verdict"], rejected["outcome"], rejected["task_status"]) == (
        "reject",
        None,
        "rejected",
    )


def test_redacted_values_stay_redacted(ledger: RunLedger, tmp_path: Path) -> None:
    out = tmp_path / "decisions.jsonl"
    export_jsonl(ledger, out)
    email = _lines(out)[2]
    assert email["decision"]["arguments"]["body"] == REDACTED
    assert email["deferred"] is True


def test_since_exports_only_later_tasks(ledger: RunLedger, tmp_path: Path) -> None:
    out = tmp_path / "decisions.jsonl"
    assert export_jsonl(ledger, out, since=T0 + timedelta(hours=12)) == 1
    assert [line["task_id"] for line in _lines(out)] == ["rev-0"]


def test_every_key_is_documented() -> None:
    documented = set(re.findall(r"^\| `(\w+)`", DOCS.read_text(encoding="utf-8"), re.MULTILINE))
    assert set(KEYS) <= documented, set(KEYS) - documented


async def test_the_export_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = HandrailSettings(_env_file=None, data_dir=tmp_path / "data")
    RunLedger(ledger_url(settings)).write_many(reviewed_refunds(["approve", "approve"]))
    out = tmp_path / "train.jsonl"
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["export", "--out", str(out)])
    assert await args.handler(settings, args) == 0
    assert f"wrote 4 decision(s) to {out}" in capsys.readouterr().out
    assert len(_lines(out)) == 4
    assert _partials(tmp_path) == []


def _partials(directory: Path) -> list[Path]:
    return list(directory.glob(".*partial"))
