"""eval.md: headline, per-field, per-article tables and the worst errors side by side."""

from __future__ import annotations

from typing import Any

WORST_ERRORS = 25


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _interval(ci: list[float]) -> str:
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def headline_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, s in report["schemas"].items():
        for level in ("lenient", "strict"):
            macro, micro = s["records"][level]["macro"], s["records"][level]["micro"]
            rows.append(
                [
                    name,
                    level,
                    _pct(macro["precision"]),
                    _pct(macro["recall"]),
                    _pct(macro["f1"]),
                    _interval(s["intervals_95"][level]["macro_f1"]),
                    _pct(micro["f1"]),
                    _interval(s["intervals_95"][level]["micro_f1"]),
                ]
            )
    return rows


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _brief(record: dict[str, Any] | None) -> str:
    if record is None:
        return "—"
    shown = {
        k: v
        for k, v in record.items()
        if k not in ("evidence", "description", "note", "value_high") and v not in (None, [], "")
    }
    text = ", ".join(f"{k}={v}" for k, v in shown.items())
    evidence = str(record.get("evidence", ""))
    if len(evidence) > 90:
        evidence = evidence[:87] + "..."
    return f"{text}<br>“{evidence}”".replace("|", "\\|")


def render_markdown(report: dict[str, Any]) -> str:
    out = [
        f"# Evaluation of `{report['run']}` against `{report['gold']}`",
        "",
        f"Backend: {report['backend'].get('backend')} / {report['backend'].get('model')}. "
        f"Articles scored: {len(report['articles_scored'])}; evidence compared as "
        f"{report['evidence_compared_as']}. Macro = mean over articles (headline); micro = over records; "
        "95% intervals resample articles (bootstrap, 1000 draws).",
        "",
        "## Headline",
        "",
        _table(
            ["schema", "level", "P", "R", "F1 (macro)", "95% CI", "F1 (micro)", "95% CI"],
            headline_rows(report),
        ),
    ]
    for name, s in report["schemas"].items():
        out += [
            "",
            f"## {name}",
            "",
            f"Gold records {s['n_gold']}, predicted {s['n_pred']}. Grounding: {s['grounding']['kept']} kept, "
            f"{s['grounding']['rejected']} rejected (rate {_pct(s['grounding']['grounding_rate'])}%), "
            f"{s['grounding']['flagged']} flagged. "
            f"MUC: undergeneration {_pct(s['muc']['undergeneration'])}%, "
            f"overgeneration {_pct(s['muc']['overgeneration'])}%, "
            f"substitution {_pct(s['muc']['substitution'])}%.",
        ]
        for key in s:
            if key.endswith("_set_f1"):
                out.append(f"Per-article {key.removesuffix('_set_f1')} set F1: {_pct(s[key])}.")
        out += [
            "",
            "### Fields",
            "",
            _table(
                ["field", "correct", "incorrect", "missing", "spurious", "P", "R", "F1"],
                [
                    [
                        f,
                        str(c["correct"]),
                        str(c["incorrect"]),
                        str(c["missing"]),
                        str(c["spurious"]),
                        _pct(c["precision"]),
                        _pct(c["recall"]),
                        _pct(c["f1"]),
                    ]
                    for f, c in s["fields"].items()
                ],
            ),
        ]
        out += [
            "",
            "### Articles",
            "",
            _table(
                ["article", "status", "gold", "pred", "lenient F1", "strict F1"],
                [
                    [
                        a["article_id"],
                        a["status"],
                        str(a["n_gold"]),
                        str(a["n_pred"]),
                        _pct(a["lenient"]["f1"]),
                        _pct(a["strict"]["f1"]),
                    ]
                    for a in sorted(s["articles"], key=lambda a: a["lenient"]["f1"])
                ],
            ),
        ]
        errors = [p for p in report["pairs"][name] if not p["strict"]]
        errors.sort(key=lambda p: (p["gold"] is not None and p["pred"] is not None, p["similarity"]))
        out += [
            "",
            f"### Worst errors ({min(WORST_ERRORS, len(errors))} of {len(errors)})",
            "",
            _table(
                ["article", "error", "gold", "prediction"],
                [
                    [p["article_id"], _kind(p), _brief(p["gold"]), _brief(p["pred"])]
                    for p in errors[:WORST_ERRORS]
                ],
            ),
        ]
    return "\n".join(out) + "\n"


def _kind(pair: dict[str, Any]) -> str:
    if pair["pred"] is None:
        return "missing"
    if pair["gold"] is None:
        return "spurious"
    wrong = [f for f, v in pair["fields"].items() if v not in ("correct", "both_empty")]
    return "wrong " + ", ".join(wrong)
