"""QuantitativeTarget: one record per quantitative figure of employment policy."""

from pathlib import Path

from polex.pipeline.spec import Example, FieldScore, SchemaSpec, Scoring
from polex.schemas.quantitative_target.checks import check_quantity
from polex.schemas.quantitative_target.consistency import check_consistency, check_growth
from polex.schemas.quantitative_target.learning import features as learning_features
from polex.schemas.quantitative_target.learning import lexicon
from polex.schemas.quantitative_target.model import QuantitativeTarget
from polex.schemas.quantitative_target.offline import extract
from polex.schemas.quantitative_target.taxonomy import CUES_FILE, INDICATORS_FILE, indicators

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"

SPEC = SchemaSpec(
    name="QuantitativeTarget",
    version=1,
    model=QuantitativeTarget,
    prompt=PROMPTS / "quantitative_target.v1.md",
    description="Quantitative figures (targets, actuals, completion rates, changes) of employment policy.",
    checks=(check_quantity,),
    article_checks=(check_consistency, check_growth),
    offline=extract,
    identity=("indicator", "value", "unit", "kind", "period", "region"),
    quantity_field="value",
    data_files=(INDICATORS_FILE, CUES_FILE),
    prompt_context=lambda: {"indicators": [(i.id, i.label) for i in indicators().values()]},
    learn=("indicator", "kind", "unit"),
    learning_features=learning_features,
    label_lexicon=lexicon,
    scoring=Scoring(
        fields=(
            FieldScore("indicator", "exact", weight=2.0, key=True),
            FieldScore("value", "numeric", weight=3.0, key=True, tolerance=1e-6),
            FieldScore("kind", "exact", weight=1.0, key=True),
            FieldScore("unit", "exact", weight=1.0),
            FieldScore("comparator", "exact", weight=0.5),
            FieldScore("period", "period", weight=0.5),
            FieldScore("region", "region", weight=0.5),
            FieldScore("indicator_text", "text", weight=0.5, threshold=0.5),
            FieldScore("evidence", "span", weight=0.5, threshold=0.0),
        ),
        gate=0.3,
        anchors=("value", "evidence"),
    ),
    examples=(
        Example(
            text="From January to November 2021, 686000 new jobs were created in cities and towns across the "
            "province, completing 108.9% of the annual target tasks, an increase of 9.88% year-on-year.",
            records=(
                {
                    "evidence": "From January to November 2021, 686000 new jobs were created "
                    "in cities and towns",
                    "indicator": "new_urban_jobs",
                    "indicator_text": "new jobs were created in cities and towns",
                    "value": 686000,
                    "unit": "persons",
                    "kind": "actual",
                    "comparator": "eq",
                    "period": "2021-01/2021-11",
                    "region": None,
                },
                {
                    "evidence": "completing 108.9% of the annual target tasks",
                    "indicator": "new_urban_jobs",
                    "indicator_text": "annual target tasks",
                    "value": 108.9,
                    "unit": "percent",
                    "kind": "completion_rate",
                    "comparator": "eq",
                    "period": "2021-01/2021-11",
                    "region": None,
                },
                {
                    "evidence": "an increase of 9.88% year-on-year",
                    "indicator": "new_urban_jobs",
                    "indicator_text": "new jobs",
                    "value": 9.88,
                    "unit": "percent",
                    "kind": "change",
                    "comparator": "eq",
                    "period": "2021-01/2021-11",
                    "region": None,
                },
            ),
        ),
    ),
)
