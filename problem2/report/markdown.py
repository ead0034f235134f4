"""Markdown pieces of the report: number formats, tables, figures (one owner, so every table looks alike), and the
templates (report/templates/NAME.md) that hold its prose: render(NAME, **numbers) fills one in.
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jinja2

from problem2.core import stats
from problem2.core.metrics import ASSIGNMENT_KEYS
from problem2.report.references import cite

T = list(ASSIGNMENT_KEYS)  # result keys of the assignment's thresholds


def f1(v) -> str:
    return f"{v:.1f}"


def f2(v) -> str:
    return f"{v:.2f}"


def f3(v) -> str:
    return f"{v:.3f}"


def mean_sd(summary: list, fmt=f3, with_n: bool = False) -> str:
    """'mean ± sd' (and ' (n=k)') of a [mean, sd, n seeds] summary; '-' when no seed has it."""
    mean, sd, n = summary
    return "-" if not n else f"{fmt(mean)} ± {fmt(sd)}" + (f" (n={n})" if with_n else "")


def table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fig(name: str, caption: str) -> str:
    """A figure with its caption below; the alt text is the figure's name only, since the caption follows it
    (screen readers would otherwise read the caption twice)."""
    return f"![{Path(name).stem.replace('_', ' ')}](visualizations/{name})\n\n*{caption}*"


SECTION_MARK = re.compile(r"\{§(\w+)\}")
APPENDICES = "## Appendices"


def ref(key: str) -> str:
    """A cross-reference to section `key`, numbered when the report is assembled (number_sections)."""
    return f"{{§{key}}}"


def section_word(number: str, initial: str) -> str:
    """'section' or, for a lettered number, 'appendix', capitalised when `initial` is ('S' at a sentence start)."""
    word = "appendix" if number.isalpha() else "section"
    return word.capitalize() if initial.isupper() else word


def number_sections(text: str) -> tuple[str, dict]:
    """Number the '## {§key} Title' headings in order (1, 2, ... before the APPENDICES line, A, B, ... after it) and
    put each number in place of every {§key}; a reference to a section this report does not hold reads '-'.
    Returns (text, {key: number})."""
    numbers, main, appendix, in_appendix = {}, 0, 0, False
    for line in text.splitlines():
        if line.strip() == APPENDICES:
            in_appendix = True
        m = re.match(r"## \{§(\w+)\} ", line)
        if m and m.group(1) not in numbers:
            if in_appendix:
                numbers[m.group(1)] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[appendix]
                appendix += 1
            else:
                main += 1
                numbers[m.group(1)] = str(main)
    text = re.sub(r"^## \{§(\w+)\} ", lambda m: f"## {'Appendix ' if numbers[m.group(1)].isalpha() else ''}"
                  f"{numbers[m.group(1)]}. ", text, flags=re.M)
    return put_numbers(text, numbers), numbers


def put_numbers(text: str, numbers: dict, document: str = "") -> str:
    """Each '{§key}' of text as its number in `numbers` ('-' when missing); 'Section {§key}' of a lettered one reads
    'appendix' and the letter. document: a prefix naming where the sections are (e.g. 'REPORT.md '), for text
    outside the report."""
    def reference(m) -> str:
        number = numbers.get(m.group(2), "-")
        return document + section_word(number, "s" if document else m.group(1)) + " " + number

    text = re.sub(r"\b([Ss])ection \{§(\w+)\}", reference, text)
    return SECTION_MARK.sub(lambda m: numbers.get(m.group(1), "-"), text)


NOT_RUN = "*Not run for this report: `bash scripts/reproduce.sh --full` runs it (the committed reference report has it).*"


TEMPLATES = Path(__file__).with_name("templates")


@cache
def templates() -> jinja2.Environment:
    """The report's templates: Markdown with Jinja2 tags, the number formats as filters (f1, f2, f3; fmt(spec) for
    any other, e.g. {{ x | fmt("+.3f") }}; percent, stats.percent's share of a gap); a name the
    template uses but the renderer did not pass is an error, not an empty string."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False, autoescape=False)
    env.filters.update(f1=f1, f2=f2, f3=f3, fmt=format, percent=stats.percent)
    env.globals.update(cite=cite)  # the one citation mark: {{ cite("sun2018") }}
    return env


def render(name: str, **numbers) -> str:
    """Template report/templates/NAME.md filled with `numbers` (values and verdict words computed in Python), without
    leading or trailing blank lines (the report joins its parts with one blank line)."""
    return templates().get_template(f"{name}.md").render(**numbers).strip("\n")
