"""The README's results block: the headline table and the sentences that answer the question, rendered from the
reference's JSON (templates/readme.md) between README_MARKERS (python -m problem2 report --update-reference writes
it)."""
from __future__ import annotations

from pathlib import Path

from problem2.core.results import load_optional
from problem2.report.answer import decomposed_numbers, fix_numbers, result_numbers, why_numbers
from problem2.report.data_efficiency import curve_sentence
from problem2.report.document import headline_table, load, section_numbers
from problem2.report.factorial import course_numbers
from problem2.report.markdown import put_numbers, render
from problem2.report.references import uncited
from problem2.report.robustness import robustness_sentence
from problem2.report.speed import PRECISION_METRIC_LABELS
from problem2.studies.course_ends import CourseEnds
from problem2.studies.data_efficiency import DataEfficiency
from problem2.studies.evaluation import Metrics
from problem2.studies.factorial import Factorial
from problem2.studies.heads import HeadStudy
from problem2.studies.interventions import Interventions
from problem2.studies.robustness import Robustness


def readme_summary(results: Path) -> str:
    """The README's results block (templates/readme.md): the headline table, then the report's answer (the same
    paragraphs as its first section, with references into REPORT.md) and the one-line findings of the studies beyond
    it."""
    results = Path(results)
    m = Metrics.load(results / "metrics.json")
    s, d = load(results, "studies.json"), load(results, "diagnosis.json")
    rob = load_optional(Robustness, results, "robustness.json")
    curves = load_optional(DataEfficiency, results, "data_efficiency.json")
    a = s and s["ambiguity"]
    summary = s["precision"]["summary"] if s and "precision" in s else None
    text = render("readme", headline=headline_table(results, swap_invariant=False), **result_numbers(m, s),
                  **why_numbers(d), **fix_numbers(load_optional(HeadStudy, results, "heads.json")),
                  **decomposed_numbers(load_optional(Factorial, results, "factorial.json"),
                                       load_optional(Interventions, results, "interventions.json")),
                  ends=course_numbers(load_optional(CourseEnds, results, "course_ends.json")),
                  hands=a and {"ceiling": a["ceiling"]["0.05"],
                               "side_heatmap": a["side_labels"]["heatmap_subpixel"]["standard"]["pck"]["0.05"],
                               "side_regression": a["side_labels"]["regression"]["standard"]["pck"]["0.05"],
                               "two_hand": a["two_hand_decoder"]["hand_swap_invariant"]["pck"]["0.05"]},
                  robustness=rob and robustness_sentence(rob), curves=curves and curve_sentence(curves),
                  precision=summary and {"n": sum(map(len, summary.values())), "moved": [
                      f"{model} {PRECISION_METRIC_LABELS[k]}" for model, ms in summary.items() for k, r in ms.items()
                      if not r["within_seed_noise"]]})
    return uncited(put_numbers(text, section_numbers(results), document="REPORT.md "))


README_MARKERS = ("<!-- results:start (written by python -m problem2 report) -->", "<!-- results:end -->")


def _readme_parts(readme: Path) -> tuple | None:
    """(text before the results block, the block, text after it), or None without README_MARKERS."""
    text = Path(readme).read_text()
    start, end = README_MARKERS
    if start not in text or end not in text:
        return None
    head, rest = text.split(start, 1)
    block, tail = rest.split(end, 1)
    return head, block, tail


def update_readme(readme: Path, results: Path) -> bool:
    """Replace the README's results block (between README_MARKERS) by readme_summary(results)."""
    parts = _readme_parts(readme)
    if parts is None:
        return False
    head, _, tail = parts
    start, end = README_MARKERS
    Path(readme).write_text(f"{head}{start}\n{readme_summary(results)}\n{end}{tail}")
    return True


def readme_is_current(readme: Path, results: Path) -> bool:
    """True when the README's results block is what readme_summary(results) renders now (or it has none)."""
    parts = _readme_parts(readme)
    return parts is None or parts[1] == f"\n{readme_summary(results)}\n"
