"""Docs that cannot drift: every `mqlscore` command and option that README.md and docs/*.md show
in code (inline code spans and shell code blocks) exists on the real command line, and every real
command is shown in the README."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from mqlscore.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Fenced blocks in these languages hold commands; YAML, Python, JSON... are not read.
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console", "text", "zsh"}

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")
# An inline code span: a run of backticks, its text (never across a blank line), the same run.
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.S)
# `mqlscore` as a command word: not part of a path, URI, module or tag (models:/mqlscore@champion,
# mqlscore.features, mqlscore-service:TAG) and followed by something on the same command line.
COMMAND = re.compile(r"(?<![\w./:@$-])mqlscore(?=[ \t]+[^\s#])")
# Where a command line ends: a shell operator, a comment or the next command; in a code block also
# a new line that is not continued with a backslash (in a span a new line is only a wrapped line).
_END = r"&&|\|\||;|\s\|\s|\s#|(?<![\w./:@$-])mqlscore(?=[ \t])"
END = {"span": re.compile(_END), "block": re.compile(_END + r"|(?<!\\)\n")}
OPTION = re.compile(r"^--?[A-Za-z][\w-]*")


@dataclass(frozen=True)
class Usage:
    """One `mqlscore ...` command line shown in the docs."""

    path: Path
    line: int
    text: str

    def where(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path.name
        return f"{path}:{self.line}: `{self.text}`"


def code_snippets(text: str) -> list[tuple[int, str, str]]:
    """(first line number, kind, text) of every shell code block ("block") and inline code span ("span")."""
    lines = text.split("\n")
    snippets: list[tuple[int, str, str]] = []
    prose = list(lines)  # the text outside code blocks, block lines blanked to keep the line numbers
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        marker, language = fence.group(1), fence.group(2).lower()
        start = i
        i += 1
        while i < len(lines) and not lines[i].lstrip().startswith(marker):
            i += 1
        if language in SHELL_LANGUAGES:
            snippets.append((start + 2, "block", "\n".join(lines[start + 1:i])))
        for j in range(start, min(i + 1, len(lines))):
            prose[j] = ""
        i += 1
    body = "\n".join(prose)
    for span in CODE_SPAN.finditer(body):
        line = body.count("\n", 0, span.start()) + 1
        snippets.append((line, "span", span.group(2).replace("\\|", "|")))  # `\|` in a table cell is a pipe
    return snippets


def usages(path: Path, text: str | None = None) -> list[Usage]:
    """Every `mqlscore ...` command line in the code of one Markdown file."""
    text = path.read_text(encoding="utf-8") if text is None else text
    found = []
    for first_line, kind, snippet in code_snippets(text):
        for match in COMMAND.finditer(snippet):
            rest = snippet[match.end():]
            end = END[kind].search(rest)
            command = "mqlscore" + (rest[:end.start()] if end else rest).replace("\\\n", " ")
            line = first_line + snippet.count("\n", 0, match.start())
            found.append(Usage(path, line, " ".join(command.split())))
    return found


def problems(usage: Usage, root: Any) -> list[str]:
    """What in one command line does not exist on the real command line."""
    command, found = root, []
    words = [w.strip("[](){},.'\"`") for w in usage.text.split()[1:]]
    words = [w for w in words if w]
    k = 0
    while hasattr(command, "commands") and k < len(words) and not words[k].startswith("-"):
        name = words[k]
        sub = command.commands.get(name)
        if sub is None:
            found.append(f"{usage.where()}: no command '{name}' (there are: {', '.join(sorted(command.commands))})")
            return found
        command, k = sub, k + 1
    known = {"--help"}
    for param in command.params:
        known.update(param.opts, param.secondary_opts)
    for word in words[k:]:
        for alternative in word.split("|"):  # [--format csv|parquet], [--dev|--no-dev]
            option = OPTION.match(alternative)
            if option and option.group() not in known:
                name = " ".join(usage.text.split()[:1 + k])
                found.append(f"{usage.where()}: '{name}' has no option {option.group()} "
                             f"(it has: {', '.join(sorted(known))})")
    return found


@pytest.fixture(scope="module")
def cli() -> Any:
    return typer.main.get_command(app)


@pytest.fixture(scope="module")
def documented() -> list[Usage]:
    return [u for path in DOC_FILES for u in usages(path)]


def test_every_documented_command_and_option_exists(cli: Any, documented: list[Usage]) -> None:
    assert len(documented) >= 30, f"only {len(documented)} `mqlscore` command lines found: is the parser broken?"
    found = [p for usage in documented for p in problems(usage, cli)]
    assert not found, "The docs show commands or options the command line does not have:\n" + "\n".join(found)


def test_every_command_is_shown_in_the_readme(cli: Any) -> None:
    shown = {u.text.split()[1] for u in usages(ROOT / "README.md") if len(u.text.split()) > 1}
    missing = sorted(set(cli.commands) - shown)
    assert not missing, f"README.md never shows these commands: {missing}"


def test_the_check_catches_wrong_commands_and_options(cli: Any, tmp_path: Path) -> None:
    """The parser reads spans, wrapped spans, table cells and continued shell lines, and ignores
    URIs, module names, tags and non-shell blocks."""
    page = tmp_path / "page.md"
    text = """\
Run `mqlscore train --data DIR --nope` or `mqlscore frobnicate --data DIR`, or wrap
`uv run mqlscore score --data DIR
--out x.csv --wrong` here.

| command | what |
| --- | --- |
| `mqlscore generate --out DIR [--format csv\\|parquet] [--colour red\\|blue]` | x |

Not commands: `models:/mqlscore@champion`, `mqlscore.features`, `mqlscore-service:TAG`, `mqlscore`.

```bash
uv sync --frozen && uv run mqlscore validate data/x \\
    --lenient --rejects r.csv --strict   # mqlscore serve --scores f.csv
```

```yaml
train:
  model_name: mqlscore --not-an-option
```
"""
    found = [p for u in usages(page, text) for p in problems(u, cli)]
    assert len(found) == 5, "\n".join(found)
    for expected in ("page.md:1: `mqlscore train --data DIR --nope`: 'mqlscore train' has no option --nope",
                     "page.md:1: `mqlscore frobnicate --data DIR`: no command 'frobnicate'",
                     "page.md:2: `mqlscore score --data DIR --out x.csv --wrong`: 'mqlscore score' has no option "
                     "--wrong",
                     "page.md:7: `mqlscore generate --out DIR [--format csv|parquet] [--colour red|blue]`: "
                     "'mqlscore generate' has no option --colour",
                     "'mqlscore validate' has no option --strict"):
        assert any(p.startswith(expected) or expected in p for p in found), (expected, found)
    lines = {u.text.split()[1]: u.line for u in usages(page, text)}
    assert lines["validate"] == 12 and lines["serve"] == 13


def yaml_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of every fenced YAML block."""
    lines, blocks, i = text.split("\n"), [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence and fence.group(2).lower() in ("yaml", "yml"):
            start = i
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(fence.group(1)):
                i += 1
            blocks.append((start + 2, "\n".join(lines[start + 1:i])))
        i += 1
    return blocks


def test_every_settings_example_is_valid() -> None:
    """A YAML example made of settings sections (the README's, the service's) loads as settings,
    so a renamed or removed setting cannot stay documented."""
    import yaml
    from pydantic import ValidationError

    from mqlscore.config import Settings

    checked, found = 0, []
    for path in DOC_FILES:
        for line, block in yaml_blocks(path.read_text(encoding="utf-8")):
            raw = yaml.safe_load(block)
            if not isinstance(raw, dict) or not set(raw) <= set(Settings.model_fields):
                continue  # an import mapping or a fragment, not a settings file
            checked += 1
            try:
                Settings.model_validate(raw)
            except ValidationError as exc:
                found.append(f"{path.relative_to(ROOT)}:{line}: {exc}")
    assert checked >= 2, "no settings example found: is the parser broken?"
    assert not found, "\n".join(found)
