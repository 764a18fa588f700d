"""The evaluation harness and the hand-labelled gold (evals/gold/, evals/GUIDELINES.md)."""
