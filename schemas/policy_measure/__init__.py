"""PolicyMeasure: one record per distinct policy action."""

from pathlib import Path

from polex.pipeline.spec import FieldScore, SchemaSpec, Scoring
from polex.schemas.policy_measure.learning import lexicon
from polex.schemas.policy_measure.model import PolicyMeasure
from polex.schemas.policy_measure.offline import CATEGORIES_FILE, extract

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"

SPEC = SchemaSpec(
    name="PolicyMeasure",
    version=1,
    model=PolicyMeasure,
    prompt=PROMPTS / "policy_measure.v1.md",
    description="Distinct policy actions of employment policy, with category and target groups.",
    offline=extract,
    identity=("category", "evidence"),
    data_files=(CATEGORIES_FILE,),
    label_lexicon=lexicon,
    scoring=Scoring(
        fields=(
            FieldScore("category", "exact", weight=2.0, key=True),
            FieldScore("evidence", "span", weight=2.0, key=True, threshold=0.0),
            FieldScore("target_groups", "set", weight=1.0, threshold=0.5),
            FieldScore("description", "text", weight=0.5, threshold=0.3),
        ),
        gate=0.3,
        anchors=("evidence",),
        set_fields=("category",),
    ),
)
