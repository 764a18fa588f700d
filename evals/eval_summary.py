"""eval.md: headline, per-field, per-article tables and the worst errors side by side."""

from __future__ import annotations

from typing import Any

from polex.evals.eval_report import EvalReport, PairRow

WORST_ERRORS = 25


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _interval(ci: list[float]) -> str:
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def headline_rows(report: EvalReport) -> list[list[str]]:
    rows = []
    for name, s in report.schemas.items():
        for level in ("lenient", "strict"):
            scores, intervals = s.records.level(level), s.intervals_95.level(level)
            rows.append(
                [
                    name,
                    level,
                    _pct(scores.macro.precision),
                    _pct(scores.macro.recall),
                    _pct(scores.macro.f1),
                    _interval(intervals.macro_f1),
                    _pct(scores.micro.f1),
                    _interval(intervals.micro_f1),
                ]
            )
    return rows


GROUP_HEADER = [
    "group",
    "schema",
    "articles",
    "lenient F1",
    "95% CI",
    "strict F1",
    "value F1",
    "value+kind F1",
    "period F1",
    "region F1",
    "set F1",
    "ECE",
    "P at conf>=0.9 (n)",
]


def group_rows(report: EvalReport) -> list[list[str]]:
    """One row per corpus group (split, origin) and schema: the figures a reader
    needs to judge generalisation, with intervals."""
    rows = []
    for group, data in report.groups.items():
        for name, s in data.schemas.items():
            value = next((v for k, v in s.subset_f1.items() if "+" not in k), None)
            value_kind = next((v for k, v in s.subset_f1.items() if "+" in k), None)
            set_f1 = next(iter(s.set_f1.values()), None)
            cal = s.calibration
            rows.append(
                [
                    group,
                    name,
                    str(data.articles),
                    _pct(s.records.lenient.macro.f1),
                    _interval(s.intervals_95.lenient.macro_f1),
                    _pct(s.records.strict.macro.f1),
                    _pct(value) if value is not None else "",
                    _pct(value_kind) if value_kind is not None else "",
                    _pct(s.fields_f1["period"]) if "period" in s.fields_f1 else "",
                    _pct(s.fields_f1["region"]) if "region" in s.fields_f1 else "",
                    _pct(set_f1) if set_f1 is not None else "",
                    f"{cal.ece:.3f}" if cal.ece is not None else "",
                    f"{_pct(cal.precision_at_high)} ({cal.records_at_high})"
                    if cal.precision_at_high is not None
                    else "",
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


def render_markdown(report: EvalReport) -> str:
    out = [
        f"# Evaluation of `{report.run}` against `{report.gold}`",
        "",
        f"Backend: {report.backend.get('backend')} / {report.backend.get('model')}. "
        f"Articles scored: {len(report.articles_scored)}; evidence compared as "
        f"{report.evidence_compared_as}. Macro = mean over articles (headline); micro = over records; "
        "95% intervals resample articles (percentile bootstrap, 1000 resamples).",
        "",
        "## Headline",
        "",
        _table(
            ["schema", "level", "P", "R", "F1 (macro)", "95% CI", "F1 (micro)", "95% CI"],
            headline_rows(report),
        ),
    ]
    if report.groups:
        out += [
            "",
            "## By split and origin",
            "",
            "Macro F1 over the group's articles with 95% bootstrap intervals; value and value+kind F1 are "
            "micro; ECE = expected calibration error of `confidence` (10 bins).",
            "",
            _table(GROUP_HEADER, group_rows(report)),
        ]
    for name, s in report.schemas.items():
        grounding, muc = s.grounding, s.muc
        out += [
            "",
            f"## {name}",
            "",
            f"Gold records {s.n_gold}, predicted {s.n_pred}. Grounding: {grounding.kept} kept, "
            f"{grounding.rejected} rejected (rate {_pct(grounding.grounding_rate)}%), "
            f"{grounding.flagged} flagged. "
            f"MUC: undergeneration {_pct(muc.undergeneration)}%, "
            f"overgeneration {_pct(muc.overgeneration)}%, "
            f"substitution {_pct(muc.substitution)}%.",
        ]
        for field, value in s.set_f1.items():
            out.append(f"Per-article {field} set F1: {_pct(value)}.")
        cal = s.calibration
        if cal.records:
            high_precision = _pct(cal.precision_at_high) if cal.precision_at_high is not None else "-"
            out += [
                "",
                "### Confidence reliability",
                "",
                f"{cal.records} records with a confidence; expected calibration error {cal.ece or 0:.3f}; "
                f"at confidence >= 0.9: {cal.records_at_high} records, precision {high_precision}%.",
                "",
                _table(
                    ["confidence", "records", "mean confidence", "observed precision (lenient)"],
                    [
                        [b.bin, str(b.records), f"{b.mean_confidence:.3f}", _pct(b.precision)]
                        for b in cal.bins
                    ],
                ),
            ]
        out += [
            "",
            "### Fields",
            "",
            _table(
                ["field", "correct", "incorrect", "missing", "spurious", "P", "R", "F1"],
                [
                    [
                        f,
                        str(c.correct),
                        str(c.incorrect),
                        str(c.missing),
                        str(c.spurious),
                        _pct(c.precision),
                        _pct(c.recall),
                        _pct(c.f1),
                    ]
                    for f, c in s.fields.items()
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
                        a.article_id,
                        a.status,
                        str(a.n_gold),
                        str(a.n_pred),
                        _pct(a.lenient.f1),
                        _pct(a.strict.f1),
                    ]
                    for a in sorted(s.articles, key=lambda a: a.lenient.f1)
                ],
            ),
        ]
        errors = [p for p in report.pairs[name] if not p.strict]
        errors.sort(key=lambda p: (p.gold is not None and p.pred is not None, p.similarity))
        out += [
            "",
            f"### Worst errors ({min(WORST_ERRORS, len(errors))} of {len(errors)})",
            "",
            _table(
                ["article", "error", "gold", "prediction"],
                [[p.article_id, _kind(p), _brief(p.gold), _brief(p.pred)] for p in errors[:WORST_ERRORS]],
            ),
        ]
    return "\n".join(out) + "\n"


def _kind(pair: PairRow) -> str:
    if pair.pred is None:
        return "missing"
    if pair.gold is None:
        return "spurious"
    wrong = [f for f, v in pair.fields.items() if v not in ("correct", "both_empty")]
    return "wrong " + ", ".join(wrong)
