"""Bad input: each gets a clear error naming it, and the rest is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polex.pipeline.inputs import InputError, read_inputs

CHINESE = "就业是最大的民生。今年新增就业三十四万人，登记失业率控制在百分之四点五以内。"


def write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def test_text_files_folders_and_jsonl(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "a.txt", "686000 new jobs were created.")
    write(folder / "b.md", "4.5% unemployment.")
    write(folder / "ignored.csv", "x")
    jsonl = write(
        tmp_path / "c.jsonl", json.dumps({"id": "c1", "text": "hello 5%", "metadata": {"date": "2021"}})
    )
    articles, errors = read_inputs([folder, jsonl])
    assert [a.id for a in articles] == ["a", "b", "c1"]
    assert articles[2].metadata == {"date": "2021"}
    assert errors == []


def test_each_bad_file_gets_its_own_error(tmp_path: Path) -> None:
    good = write(tmp_path / "good.txt", "1,000 jobs.")
    empty = write(tmp_path / "empty.txt", "")
    blank = write(tmp_path / "blank.txt", "  \n\t ")
    binary = write(tmp_path / "binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    big = write(tmp_path / "big.txt", "x" * 2000)
    articles, errors = read_inputs([good, empty, blank, binary, big], max_bytes=1000)
    assert [a.id for a in articles] == ["good"]
    messages = {e.article_id: e.message for e in errors}
    assert "empty file" in messages["empty"]
    assert "only whitespace" in messages["blank"]
    assert "binary" in messages["binary"]
    assert "over the limit" in messages["big"]
    assert all(str(tmp_path) in m for m in messages.values())


@pytest.mark.parametrize("encoding", ["gb18030", "big5"])
def test_chinese_encodings_are_decoded_and_named(tmp_path: Path, encoding: str) -> None:
    text = CHINESE if encoding == "gb18030" else "就業是最大的民生。今年新增就業人數三十四萬人。"
    path = write(tmp_path / f"{encoding}.txt", text.encode(encoding))
    (article,), errors = read_inputs([path])
    assert errors == []
    assert article.text == text
    assert article.encoding == encoding


def test_undecodable_bytes_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.txt", bytes(range(0x80, 0x100)) * 3)
    articles, errors = read_inputs([path])
    assert articles == []
    assert errors[0].message == f"{path}: not valid UTF-8, UTF-16, GB18030, BIG5 or Western text"


def test_malformed_jsonl_lines_name_their_line(tmp_path: Path) -> None:
    lines = [
        '{"id": "a", "text": "5% up"}',
        "{not json",
        '{"text": "no id"}',
        '{"id": "b", "text": 7}',
        "",
        '{"id": "c", "text": "10 jobs"}',
    ]
    path = write(tmp_path / "x.jsonl", "\n".join(lines))
    articles, errors = read_inputs([path])
    assert [a.id for a in articles] == ["a", "c"]
    assert [e.source.rsplit(":", 1)[1] for e in errors] == ["2", "3", "4"]
    assert "malformed JSON" in errors[0].message


def test_duplicate_ids_keep_the_first_and_name_both_sources(tmp_path: Path) -> None:
    first = write(tmp_path / "a.txt", "1 job")
    other = tmp_path / "more"
    other.mkdir()
    second = write(other / "a.txt", "2 jobs")
    articles, errors = read_inputs([first, second])
    assert [a.text for a in articles] == ["1 job"]
    assert str(first) in errors[0].message and str(second) in errors[0].message


def test_a_missing_path_refuses_before_starting(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_inputs([tmp_path / "nope"])


@pytest.mark.parametrize(
    ("encoding", "named"),
    [("latin-1", "cp1252"), ("cp1252", "cp1252"), ("utf-16", "utf-16"), ("utf-16-be", "utf-16-be"),
     ("utf-16-le", "utf-16-le"), ("utf-8-sig", "utf-8")],
)  # fmt: skip
def test_western_and_utf16_text_is_not_read_as_chinese_or_binary(
    tmp_path: Path, encoding: str, named: str
) -> None:
    text = "Québec’s naïve plan: 12,000 jobs in Montréal. Employment rose 5% in 2024."
    if encoding == "latin-1":
        text = text.replace("’", "'")
    path = write(tmp_path / "w.txt", text.encode(encoding))
    [article], errors = read_inputs([path])
    assert errors == [] and article.text == text and article.encoding == named


def test_english_with_chinese_names_in_gb18030_stays_chinese(tmp_path: Path) -> None:
    text = "Hubei (湖北省) created 560,000 jobs (城镇新增就业56万人) in 2023."
    [article], _ = read_inputs([write(tmp_path / "g.txt", text.encode("gb18030"))])
    assert article.text == text and article.encoding == "gb18030"
