"""FundingAllocation: money of employment policy allocated, paid, cut, refunded or lent.

The worked example of docs/new-schema.md: a model with field descriptions, the
checks it reuses from the core, its scoring, offline rules as data, and a prompt
template in prompts/. Nothing in the pipeline or the harness knows it exists."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from polex.pipeline.checks import number_in_evidence
from polex.pipeline.quantities import Comparator
from polex.pipeline.spec import FieldScore, SchemaSpec, Scoring
from polex.schemas.funding_allocation.offline import RULES_FILE, extract

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


class FundingAllocation(BaseModel):
    """One amount of money of employment policy: allocated, paid out, cut (premiums
    reduced or exempted), refunded (job-stabilisation returns) or lent. Not incomes
    or wages of people. One record per amount."""

    model_config = ConfigDict(extra="ignore")

    evidence: str = Field(description="The article's exact words that carry the amount, copied verbatim.")
    amount: float = Field(description="The amount in yuan, normalised: '1.2 billion yuan' -> 1200000000.")
    currency: Literal["CNY", "other"] = Field(
        default="CNY", description="CNY for yuan / RMB; other otherwise."
    )
    action: Literal["allocated", "paid", "cut", "refunded", "loaned", "other"] = Field(
        description="allocated (budgeted, arranged); paid (distributed, granted); cut (premiums reduced or "
        "exempted); refunded (returned to employers); loaned; other."
    )
    purpose: str = Field(description="What the money is for, in a few words ('training subsidies').")
    recipients: str | None = Field(default=None, description="Who receives it ('enterprises'), or null.")
    beneficiaries: float | None = Field(
        default=None,
        description="How many receive it when the text says so ('116,000 enterprises' -> 116000).",
    )
    beneficiary_unit: Literal["persons", "person_times", "enterprises", "households"] | None = Field(
        default=None, description="What the beneficiaries count, or null."
    )
    comparator: Comparator = Field(
        default="eq", description="eq; approx ('about'); at_least ('more than'); at_most ('within')."
    )
    period: str | None = Field(
        default=None, description="'2021' or '2021-01/2021-11' as the text fixes it; else null."
    )
    region: str | None = Field(default=None, description="Short English name of the jurisdiction, or null.")


SPEC = SchemaSpec(
    name="FundingAllocation",
    version=1,
    model=FundingAllocation,
    prompt=PROMPTS / "funding_allocation.v1.md",
    description="Money of employment policy allocated, paid, cut, refunded or lent.",
    checks=(number_in_evidence("amount", unit="yuan"), number_in_evidence("beneficiaries")),
    offline=extract,
    identity=("amount", "action", "period", "region"),
    quantity_field="amount",
    data_files=(RULES_FILE,),
    scoring=Scoring(
        fields=(
            FieldScore("amount", "numeric", weight=3.0, key=True),
            FieldScore("action", "exact", weight=1.0, key=True),
            FieldScore("purpose", "text", weight=0.5, threshold=0.3),
            FieldScore("recipients", "text", weight=0.5, threshold=0.5),
            FieldScore("beneficiaries", "numeric", weight=0.5),
            FieldScore("period", "period", weight=0.5),
            FieldScore("region", "region", weight=0.5),
            FieldScore("evidence", "span", weight=0.5, threshold=0.0),
        ),
        anchors=("amount", "evidence"),
    ),
)
