"""The README's results block: the headline table and the sentences that answer the question, rendered from the
reference's JSON between README_MARKERS (python -m problem2 report --update-reference writes it)."""
from __future__ import annotations

from pathlib import Path

from problem2.core.results import Metrics, load_optional
from problem2.report.answer import fix_paragraph, result_paragraph, why_paragraph
from problem2.report.data_efficiency import curve_sentence
from problem2.report.document import headline_table, load, section_numbers
from problem2.report.markdown import f3, put_numbers
from problem2.report.references import uncited
from problem2.report.robustness import robustness_sentence
from problem2.report.speed import PRECISION_METRIC_LABELS
from problem2.studies.data_efficiency import DataEfficiency
from problem2.studies.heads import HeadStudy
from problem2.studies.robustness import Robustness


def readme_summary(results: Path) -> str:
    """The README's results block: the headline table, then the report's answer (the same paragraphs as its first
    section, with references into REPORT.md) and the one-line findings of the studies beyond it."""
    results = Path(results)
    m = Metrics.load(results / "metrics.json")
    s, d = load(results, "studies.json"), load(results, "diagnosis.json")
    heads = load_optional(HeadStudy, results, "heads.json")
    n = section_numbers(results)
    parts = ["### Headline (reference run)", headline_table(results, swap_invariant=False),
             result_paragraph(m, s), why_paragraph(d) if d else "", fix_paragraph(heads)]
    if s:
        a = s["ambiguity"]
        parts.append(
            f"**Hand labels.** The best course-label PCK@0.05 any image-only predictor can expect is "
            f"{f3(a['ceiling']['0.05'])}; on side labels HeatmapNet reaches "
            f"{f3(a['side_labels']['heatmap_subpixel']['standard']['pck']['0.05'])} and RegressionNet "
            f"{f3(a['side_labels']['regression']['standard']['pck']['0.05'])}. A decoder that knows there are two "
            f"hands lifts HeatmapNet's hand-swap-invariant PCK@0.05 to "
            f"{f3(a['two_hand_decoder']['hand_swap_invariant']['pck']['0.05'])}.")
    rob = load_optional(Robustness, results, "robustness.json")
    if rob:
        parts.append("**Beyond the training distribution (Section {§robustness}).** " + robustness_sentence(rob))
    curves = load_optional(DataEfficiency, results, "data_efficiency.json")
    if curves and curve_sentence(curves):
        parts.append("**How much data (Section {§data_efficiency}).** " + curve_sentence(curves))
    if s and "precision" in s:
        summary = s["precision"]["summary"]
        moved = [f"{model} {PRECISION_METRIC_LABELS[k]}" for model, ms in summary.items() for k, r in ms.items()
                 if not r["within_seed_noise"]]
        parts.append(f"**Speed.** The project's training path (bf16 autocast and channels-last where the CPU is fast "
                     f"at them) against plain fp32 over seeds ({sum(map(len, summary.values()))} comparisons, "
                     "Section {§speed}): "
                     + ("no difference detected (Welch, Holm-corrected; a failure to detect a difference, not a proof "
                        "of equivalence)." if not moved
                        else "differences beyond seed noise (Welch, Holm-corrected): " + "; ".join(moved) + ".")
                     + " Measured speed: Section {§speed} and docs/speed.md.")
    return uncited(put_numbers("\n\n".join(p for p in parts if p), n, document="REPORT.md "))


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
