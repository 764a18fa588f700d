"""The PolicyMeasure record."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Category = Literal[
    "job_retention_relief",
    "hiring_subsidies",
    "entrepreneurship_support",
    "skills_training",
    "employment_services",
    "direct_job_creation",
    "hard_to_employ_assistance",
    "income_support",
    "enterprise_credit",
    "flexible_work_and_rights",
    "social_insurance",
    "household_registration",
    "talent_policy",
    "poverty_alleviation_employment",
    "other",
]
TargetGroup = Literal[
    "college_graduates",
    "youth",
    "migrant_workers",
    "rural_labour",
    "unemployed",
    "hard_to_employ",
    "poverty_population",
    "retirees",
    "flexible_workers",
    "enterprises",
    "veterans",
    "disabled_persons",
    "women",
    "general",
]


class PolicyMeasure(BaseModel):
    """One distinct policy action (announced, planned or reported as done) of a
    government or its departments to promote or protect employment. A statement of
    principle with no action ("employment is the foundation of livelihood") is not a
    measure; the same action mentioned twice is one record."""

    model_config = ConfigDict(extra="ignore")

    evidence: str = Field(
        description="The article's exact words describing the action, copied verbatim "
        "(one sentence or clause)."
    )
    category: Category = Field(
        description="job_retention_relief (premium cuts, job-stabilisation refunds), hiring_subsidies, "
        "entrepreneurship_support, skills_training, employment_services (job fairs, matching, platforms), "
        "direct_job_creation (public welfare posts, workshops), hard_to_employ_assistance, income_support, "
        "enterprise_credit, flexible_work_and_rights (flexible and platform work, labour rights, wage "
        "arrears), social_insurance, household_registration, talent_policy, "
        "poverty_alleviation_employment, or other."
    )
    description: str = Field(description="A short English summary of the action (at most about 15 words).")
    target_groups: list[TargetGroup] = Field(
        default_factory=lambda: list[TargetGroup](["general"]),
        description="Who the action is for: college_graduates, youth, migrant_workers, rural_labour, "
        "unemployed, hard_to_employ, poverty_population, retirees, flexible_workers, enterprises, "
        "veterans, disabled_persons, women, or general when no group is named.",
    )

    @field_validator("target_groups")
    @classmethod
    def _groups_or_general(cls, value: list[str]) -> list[str]:
        unique = sorted(set(value))
        return unique or ["general"]
