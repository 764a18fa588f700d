"""Finds the registered schemas: every module or package under ``schemas/`` that
defines ``SPEC``, every ``polex.schemas`` entry point of an installed package, and
every module in the directories of ``POLEX_SCHEMA_PATH`` (or ``--schema-dir``).
Adding a schema never needs a change here."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterable
from pathlib import Path

from polex.pipeline.errors import PolexError
from polex.pipeline.spec import SchemaSpec

ENTRY_POINT_GROUP = "polex.schemas"
SCHEMA_PATH_ENV = "POLEX_SCHEMA_PATH"


class SchemaError(PolexError):
    """A schema could not be loaded or is malformed; the message names it."""


def _validate(spec: object, source: str) -> SchemaSpec:
    if not isinstance(spec, SchemaSpec):
        raise SchemaError(f"{source}: SPEC is a {type(spec).__name__}, not a polex.pipeline.spec.SchemaSpec")
    if "evidence" not in spec.model.model_fields:
        raise SchemaError(
            f"{source}: model {spec.model.__name__} has no 'evidence' field; grounding needs one"
        )
    if not spec.prompt.is_file():
        raise SchemaError(f"{source}: prompt template {spec.prompt} does not exist")
    names = {f.name for f in spec.scoring.fields}
    unknown = names - set(spec.model.model_fields)
    if unknown:
        raise SchemaError(f"{source}: scoring names fields the model lacks: {sorted(unknown)}")
    return spec


def _builtin() -> Iterable[tuple[str, object]]:
    from polex import schemas

    for info in pkgutil.iter_modules(schemas.__path__):
        module = importlib.import_module(f"polex.schemas.{info.name}")
        if hasattr(module, "SPEC"):
            yield f"polex.schemas.{info.name}", module.SPEC


def _entry_points() -> Iterable[tuple[str, object]]:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            yield f"entry point {ep.name} ({ep.value})", ep.load()
        except Exception as exc:  # a broken third-party schema must name itself
            raise SchemaError(f"entry point {ep.name} ({ep.value}) failed to load: {exc}") from exc


def _from_directory(directory: Path) -> Iterable[tuple[str, object]]:
    if not directory.is_dir():
        raise SchemaError(f"schema directory {directory} does not exist")
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_dir() and (path / "__init__.py").is_file():
            target, search = path / "__init__.py", [str(path)]
        elif path.suffix == ".py":
            target, search = path, None
        else:
            continue
        name = f"polex_user_schemas.{path.stem}"
        spec = importlib.util.spec_from_file_location(name, target, submodule_search_locations=search)
        if spec is None or spec.loader is None:
            raise SchemaError(f"{path}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise SchemaError(f"{path}: failed to import: {exc}") from exc
        if hasattr(module, "SPEC"):
            yield str(path), module.SPEC


def schema_dirs(extra: Iterable[Path] = ()) -> list[Path]:
    from_env = [Path(p) for p in os.environ.get(SCHEMA_PATH_ENV, "").split(os.pathsep) if p]
    return [*from_env, *extra]


def discover(extra_dirs: Iterable[Path] = ()) -> dict[str, SchemaSpec]:
    """Every registered schema by name; a name registered twice is an error."""
    found: dict[str, tuple[SchemaSpec, str]] = {}
    sources: list[Iterable[tuple[str, object]]] = [_builtin(), _entry_points()]
    sources += [_from_directory(d) for d in schema_dirs(extra_dirs)]
    for source in sources:
        for where, obj in source:
            spec = _validate(obj, where)
            if spec.name in found:
                raise SchemaError(
                    f"schema {spec.name} is registered twice: {found[spec.name][1]} and {where}"
                )
            found[spec.name] = (spec, where)
    return {name: spec for name, (spec, _) in sorted(found.items())}


def select(names: Iterable[str], extra_dirs: Iterable[Path] = ()) -> list[SchemaSpec]:
    """The named schemas (all when ``names`` is empty); an unknown name is an error
    that lists the known ones. Accepts 'Name' or the versioned 'Name.v1'."""
    registry = discover(extra_dirs)
    wanted = list(names)
    if not wanted:
        return list(registry.values())
    chosen: list[SchemaSpec] = []
    for name in wanted:
        spec = registry.get(name) or next((s for s in registry.values() if s.registry_name == name), None)
        if spec is None:
            raise SchemaError(f"unknown schema '{name}'; registered: {', '.join(registry)}")
        chosen.append(spec)
    return chosen
