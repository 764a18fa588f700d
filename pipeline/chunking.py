"""Splits long articles into overlapping chunks on sentence boundaries, so an LLM
sees whole sentences and a record found twice in an overlap is merged later."""

from __future__ import annotations

from dataclasses import dataclass

from polex.pipeline.text import sentences


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    index: int
    count: int


MIN_CHUNK_CHARS = 1000


def chunk(text: str, max_chars: int = 6000, overlap: int = 400) -> list[Chunk]:
    if max_chars < 2 * overlap or max_chars < MIN_CHUNK_CHARS:
        raise ValueError(f"chunk size {max_chars} is too small: at least {max(MIN_CHUNK_CHARS, 2 * overlap)}")
    if len(text) <= max_chars:
        return [Chunk(0, len(text), 1, 1)]
    bounds: list[tuple[int, int]] = []
    spans = sentences(text) or []
    start = 0
    while start < len(text):
        end = min(len(text), start + max_chars)
        if end < len(text):
            # end on the last sentence boundary inside the window, if there is one
            inside = [s.end for s in spans if start < s.end <= end]
            if inside and inside[-1] - start > max_chars // 2:
                end = inside[-1]
        bounds.append((start, end))
        if end >= len(text):
            break
        # the next chunk starts at a sentence start within the overlap, if any
        # (always past the current start, so every chunk moves forward)
        restart = max(end - overlap, start + 1)
        later = [s.start for s in spans if restart <= s.start < end]
        start = later[0] if later else restart
    return [Chunk(s, e, i + 1, len(bounds)) for i, (s, e) in enumerate(bounds)]


def halve(piece: Chunk, text: str) -> list[Chunk]:
    """Two smaller chunks covering ``piece``, split on a sentence boundary near the middle."""
    middle = (piece.start + piece.end) // 2
    boundaries = [s.end for s in sentences(text) if piece.start < s.end < piece.end]
    cut = min(boundaries, key=lambda b: abs(b - middle)) if boundaries else middle
    if cut <= piece.start or cut >= piece.end:
        cut = middle
    return [Chunk(piece.start, cut, 1, 2), Chunk(cut, piece.end, 2, 2)]
