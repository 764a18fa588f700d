"""The QuantitativeTarget record. Field descriptions are the single source of truth:
they reach the LLM through the JSON schema and the prompt, and docs quote them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from polex.pipeline.quantities import Comparator
from polex.schemas.quantitative_target.taxonomy import indicators

Unit = Literal[
    "persons",
    "person_times",
    "posts",
    "households",
    "enterprises",
    "yuan",
    "percent",
    "percentage_points",
    "events",
    "facilities",
    "ratio",
    "other",
]
Kind = Literal["actual", "target", "completion_rate", "change"]
INDICATOR_IDS: list[JsonValue] = [*sorted(indicators())]
PERIOD_PATTERN = (
    r"^[0-9]{4}(-[0-9]{2})?(/[0-9]{4}(-[0-9]{2})?)?$"  # [0-9], not \\d: llama.cpp grammars reject \\d
)


class QuantitativeTarget(BaseModel):
    """One quantitative figure about employment, unemployment, labour, skills, social
    security, incomes, or the money, people, posts, events or facilities of employment
    policy, for a jurisdiction or a programme. Not dates, ordinals, numbers inside
    names ("four advances and one promotion"), counts of documents or measures, or
    figures about one named company. One record per number."""

    model_config = ConfigDict(extra="ignore")

    evidence: str = Field(
        description="The article's exact words that carry this figure, copied verbatim: the clause "
        "containing the number and what it measures. Do not paraphrase or fix typos."
    )
    indicator: str = Field(
        description="What is measured: one id of the indicator taxonomy (see the list in the "
        "instructions); 'other' when none fits.",
        json_schema_extra={"enum": INDICATOR_IDS},
    )
    indicator_text: str = Field(
        description="The article's own words for what is measured, e.g. 'new urban jobs'."
    )
    value: float = Field(
        description="The number, normalised: '3.69 million' -> 3690000, '4.5%' -> 4.5, "
        "'1.2 billion yuan' -> 1200000000. A change is signed: 'down 0.17 points' -> -0.17."
    )
    value_high: float | None = Field(
        default=None, description="Upper end when the article gives a range ('30 to 50 million'); else null."
    )
    unit: Unit = Field(
        description="persons, person_times, posts, households, enterprises, yuan, percent, "
        "percentage_points, events, facilities, ratio or other."
    )
    kind: Kind = Field(
        description="actual: a reported level; target: a goal or plan; completion_rate: achieved as % "
        "of a target ('108.9% of the annual target'); change: a difference from an earlier period or "
        "from the target ('up 9.88% year-on-year', '0.17 points lower than the target')."
    )
    comparator: Comparator = Field(
        default="eq",
        description="eq; approx ('about', 'around'); at_least ('more than', 'over'); "
        "at_most ('within', 'below').",
    )
    period: str | None = Field(
        default=None,
        pattern=PERIOD_PATTERN,
        description="'2020', '2021-01/2021-11' or '2021/2025' as far as the text fixes it; else null.",
    )
    region: str | None = Field(
        default=None, description="Short English name of the jurisdiction ('Anhui', 'Binzhou'); else null."
    )

    @field_validator("indicator")
    @classmethod
    def _known_indicator(cls, value: str) -> str:
        if value not in indicators():
            raise ValueError(f"'{value}' is not an indicator id; use one of {sorted(indicators())}")
        return value
