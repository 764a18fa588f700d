"""The category cues of categories.toml name the instruments evals/GUIDELINES.md
assigns to each PolicyMeasure category (the offline rules and the learned
extractor's lexicon both read them)."""

from __future__ import annotations

import pytest

from polex.schemas.policy_measure.learning import lexicon
from polex.schemas.policy_measure.offline import classify


@pytest.mark.parametrize(
    ("sentence", "category"),
    [
        # rule 105: "six taxes and two fees" cut for firms is job_retention_relief
        (
            "The city cut the six taxes and two fees for small and micro firms this year.",
            "job_retention_relief",
        ),
        # rule 105: an interview subsidy for graduates from outside the city is talent_policy
        ("The city will provide an interview subsidy to graduates from outside the city.", "talent_policy"),
        # job fairs in their plural spelling are employment_services (rule 28)
        ("The district organized 33 on-site and online jobs fairs during the year.", "employment_services"),
    ],
)
def test_guideline_instruments_are_classified_by_their_cues(sentence: str, category: str) -> None:
    assert classify(sentence) == category


def test_lexicon_finds_civil_service_quotas_as_direct_job_creation() -> None:
    from polex.pipeline.learning.lexicon import hits

    found = hits(lexicon()["category"], "more civil servant posts will be reserved for graduates")
    values = {lexicon()["category"].values[h.value] for h in found}
    assert "direct_job_creation" in values  # rule 89
