"""Read a tenant's files from disk: the only module of ``kefu.dsl`` that touches files.

A tenant directory holds ``tenant.kefu`` (the entry file), the files it includes, and flow
tests in ``tests/*.kefu``.
"""

from __future__ import annotations

from pathlib import Path

from kefu.dsl.compiler import DEFAULT_ENTRY, Result

MAX_FILE_BYTES = 2_000_000


def read_sources(path: str | Path) -> tuple[dict[str, str], str]:
    """Read a tenant directory (or a single file) into ``{relative name: text}``.

    Returns:
        ``(sources, entry)``. Test files under ``tests/`` are left out.

    Raises:
        FileNotFoundError: the path does not exist. ValueError: a file is too large.
    """
    root = Path(path)
    if root.is_file():
        return {root.name: _read(root)}, root.name
    if not root.is_dir():
        raise FileNotFoundError(str(root))
    sources: dict[str, str] = {}
    for file in sorted(root.rglob("*.kefu")):
        rel = file.relative_to(root)
        if rel.parts[0] == "tests":
            continue
        sources[rel.as_posix()] = _read(file)
    return sources, DEFAULT_ENTRY


def read_tests(path: str | Path) -> dict[str, str]:
    """The flow-test files of a tenant directory: ``{"tests/x.kefu": text}``."""
    root = Path(path)
    if root.is_file():
        root = root.parent
    return {f.relative_to(root).as_posix(): _read(f)
            for f in sorted((root / "tests").glob("*.kefu"))}


def _read(file: Path) -> str:
    if file.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{file} is larger than {MAX_FILE_BYTES} bytes")
    return file.read_text(encoding="utf-8-sig")


def compile_path(path: str | Path) -> Result:
    """Read and compile a tenant directory or file; returns a compiler ``Result``."""
    from kefu.dsl.compiler import compile_sources

    sources, entry = read_sources(path)
    return compile_sources(sources, entry if entry in sources else None)
