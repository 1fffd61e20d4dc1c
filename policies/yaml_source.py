"""YAML that remembers where each value came from, so an error can name file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1_000_000
_SCALARS = yaml.constructor.SafeConstructor()


class PolicyFileError(ValueError):
    """A policy file that cannot be used: file, line and what to fix."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line


@dataclass(frozen=True)
class Located:
    """A parsed YAML document plus the line of every mapping key and sequence item."""

    path: Path
    data: Any
    lines: dict[tuple, int]

    def line(self, *where: object) -> int | None:
        while where and where not in self.lines:
            where = where[:-1]
        return self.lines.get(where)

    def error(self, message: str, *where: object) -> PolicyFileError:
        return PolicyFileError(self.path, self.line(*where), message)


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key, self.line = key, line


def _walk(node: yaml.Node, where: tuple, lines: dict[tuple, int]) -> Any:
    lines.setdefault(where, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in result:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            lines[(*where, key)] = key_node.start_mark.line + 1
            result[key] = _walk(value_node, (*where, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*where, i), lines) for i, item in enumerate(node.value)]
    return _SCALARS.construct_object(node)


def _invalid(path: Path, error: yaml.YAMLError) -> PolicyFileError:
    mark = getattr(error, "problem_mark", None)
    return PolicyFileError(path, mark.line + 1 if mark else None,
                           f"not valid YAML: {getattr(error, 'problem', error)}")


def load_located(path: Path) -> Located:
    """Parse one policy file; refuses oversized files, aliases (YAML bombs) and bad syntax."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise PolicyFileError(path, None, f"larger than {MAX_FILE_BYTES} bytes; split it up")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PolicyFileError(path, None, f"not UTF-8 text ({error.reason} at byte "
                              f"{error.start}); save it as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise _invalid(path, error) from None
    if any(token in text for token in ("&", "*")) and has_alias(node):
        raise PolicyFileError(path, None, "YAML anchors and aliases are not allowed in policies")
    lines: dict[tuple, int] = {}
    try:
        return Located(path, _walk(node, (), lines) if node else {}, lines)
    except _DuplicateKey as duplicate:
        raise PolicyFileError(path, duplicate.line, f"{duplicate.key!r} is declared twice; "
                              "names must be unique") from None
    except yaml.YAMLError as error:  # a node no safe constructor builds, e.g. a bare `=`
        raise _invalid(path, error) from None


def has_alias(node: yaml.Node | None, seen: set[int] | None = None) -> bool:
    """Whether a composed document reuses a node (an alias): the stuff of YAML bombs."""
    seen = seen if seen is not None else set()
    if node is None:
        return False
    if id(node) in seen:
        return True
    seen.add(id(node))
    children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                else node.value if isinstance(node, yaml.SequenceNode) else [])
    return any(has_alias(child, seen) for child in children)
