"""Defaults are declared once (pipeline/defaults.py) and what the user typed is
never silently replaced: an option the chosen backend would ignore, or a mode it
cannot honour, is refused with an error naming the option."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from polex.pipeline import cli, defaults
from polex.pipeline.backends import BackendError, BackendOptions, LLMSettings, create
from polex.pipeline.backends.openai_compat import OpenAICompatBackend
from polex.pipeline.runner import RunPlan
from polex.pipeline.transport import RetryPolicy
from tests.conftest import SEEDS


def run_options() -> dict[str, object]:
    command = typer.main.get_command(cli.app).commands["run"]  # type: ignore[attr-defined]
    return {param.name: param.default for param in command.params}


def test_the_run_command_declares_no_default_value_of_its_own() -> None:
    tree = ast.parse(Path(inspect.getfile(cli)).read_text("utf-8"))
    run = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run")
    literals = {
        arg.arg: ast.literal_eval(default)
        for arg, default in zip(run.args.args[-len(run.args.defaults) :], run.args.defaults, strict=True)
        if isinstance(default, ast.Constant) and default.value not in (None, False)
    }
    assert literals == {"backend": "auto"}  # a choice of the command line, not a setting


def test_the_command_line_and_the_library_share_every_default() -> None:
    options = run_options()
    llm, plan = LLMSettings(), RunPlan([], [], [], None, Path("run"))  # type: ignore[arg-type]
    shared = {
        "temperature": llm.temperature,
        "seed": llm.seed,
        "max_tokens": llm.max_tokens,
        "max_reasks": llm.max_reasks,
        "timeout": llm.timeout,
        "chunk_chars": llm.chunk_chars,
        "retries": RetryPolicy().attempts,
        "concurrency": plan.concurrency,
        "article_timeout": plan.article_timeout,
        "cache_dir": defaults.CACHE_DIR,
    }
    assert {name: options[name] for name in shared} == shared
    # model and mode: not given means the backend's own default, never a value the CLI made up
    assert options["model"] is None and options["mode"] is None
    assert llm.model is None and llm.mode is None


def test_an_openai_backend_without_model_or_mode_takes_the_declared_defaults() -> None:
    backend = OpenAICompatBackend(LLMSettings(base_url="http://fake/v1"))
    assert (backend.settings.model, backend.settings.mode) == (defaults.MODEL, defaults.MODE)
    explicit = OpenAICompatBackend(LLMSettings(model="qwen2.5", mode="md_json", base_url="http://fake/v1"))
    assert (explicit.settings.model, explicit.settings.mode) == ("qwen2.5", "md_json")


def test_the_llamacpp_backend_keeps_an_explicit_model_name_and_defaults_to_its_own_mode() -> None:
    # before, a model typed as gpt-4o-mini was replaced by the GGUF's file name
    named = create("llamacpp", BackendOptions(llm=LLMSettings(model="gpt-4o-mini")))
    assert named.describe()["model"] == "gpt-4o-mini"
    assert named.describe()["parameters"]["mode"] == defaults.LLAMACPP_MODE
    unnamed = create("llamacpp", BackendOptions(llm=LLMSettings()))
    assert unnamed.describe()["model"].endswith(".gguf")


def test_mode_json_schema_with_llamacpp_is_refused_naming_the_option(tmp_path: Path) -> None:
    # before, an explicit --mode json_schema was silently switched to json_object_schema
    with pytest.raises(BackendError, match="--mode json_schema"):
        create("llamacpp", BackendOptions(llm=LLMSettings(mode="json_schema")))
    result = CliRunner().invoke(
        cli.app,
        ["run", str(SEEDS), "--out", str(tmp_path / "run"), "--backend", "llamacpp", "--mode", "json_schema"],
    )
    assert result.exit_code == 2 and "--mode json_schema" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--backend", "offline", "--model", "qwen2.5"], "--model"),
        (["--model", "qwen2.5"], "--model"),  # auto chose offline: no endpoint is configured
        (["--backend", "offline", "--mode", "tools"], "--mode"),
        (["--backend", "offline", "--base-url", "http://127.0.0.1:9/v1"], "--base-url"),
        (["--backend", "openai", "--rules-only"], "--rules-only"),
        (["--backend", "openai", "--model-path", "m.gguf"], "--model-path"),
    ],
)
def test_an_option_the_chosen_backend_would_ignore_is_refused(
    tmp_path: Path, args: list[str], option: str
) -> None:
    result = CliRunner().invoke(cli.app, ["run", str(SEEDS), "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 2, result.output
    assert f"{option} does not apply" in result.output
    assert not (tmp_path / "run").exists()  # refused before any work
