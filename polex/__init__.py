"""The installed namespace of the project: `polex.pipeline`, `polex.schemas`,
`polex.prompts` and `polex.evals` are the top-level folders of the same names
(linked here, so the source tree keeps the layout of the design card and the
wheel holds one import name that cannot clash with another distribution)."""
