"""The README's results block: the headline table and the sentences that answer the question, rendered from the
reference's JSON between README_MARKERS (python -m problem2 report --update-reference writes it)."""
from __future__ import annotations

from pathlib import Path

from problem2.core.results import load_optional
from problem2.core.study_results import DataEfficiency, HeadStudy, Robustness
from problem2.report import mechanism as why
from problem2.report.data_efficiency import curve_sentence
from problem2.report.document import headline_table, load, section_numbers
from problem2.report.heads import answer as heads_answer
from problem2.report.markdown import f3
from problem2.report.mechanism import row, single_changes
from problem2.report.robustness import robustness_sentence
from problem2.report.speed import PRECISION_METRIC_LABELS


def readme_summary(results: Path) -> str:
    """The README's results block: the headline table and the numbers that answer the question."""
    results = Path(results)
    parts = ["### Headline (reference run)", headline_table(results, swap_invariant=False)]
    n = section_numbers(results)
    d = load(results, "diagnosis.json")
    if d:
        parts.append(f"**Why (REPORT.md section {n.get('mechanism', '-')}).** " + why.mechanism_sentence(d))
    s = load(results, "studies.json")
    if s:
        b = s["seeds"]["bootstrap"]
        sub, reg = (s["seeds"]["summary"][k]["standard"] for k in ("heatmap_subpixel", "regression"))
        parts.append(
            f"Over seeds {s['seeds']['seeds']}: PCK@0.05 {f3(sub['pck@0.05'][0])} ± {f3(sub['pck@0.05'][1])} "
            f"(heatmap, sub-pixel) against {f3(reg['pck@0.05'][0])} ± {f3(reg['pck@0.05'][1])} (regression); "
            f"the heatmap - regression difference is {f3(b['0.05']['diff'])} "
            f"(95% paired bootstrap interval [{f3(b['0.05']['low'])}, {f3(b['0.05']['high'])}]) at 0.05 and "
            f"{f3(b['0.2']['diff'])} [{f3(b['0.2']['low'])}, {f3(b['0.2']['high'])}] at 0.2.")
        a = s["ambiguity"]
        parts.append(
            f"Hand labels: the best labelled-hand PCK@0.05 any image-only predictor can expect is "
            f"{f3(a['ceiling']['0.05'])}; with hands named by image side, PCK@0.05 is "
            f"{f3(a['side_labels']['heatmap_subpixel']['standard']['pck']['0.05'])} (heatmap) and "
            f"{f3(a['side_labels']['regression']['standard']['pck']['0.05'])} (regression). A decoder that knows "
            f"there are two hands lifts the default heatmap model's hand-swap-invariant PCK@0.05 to "
            f"{f3(a['two_hand_decoder']['hand_swap_invariant']['pck']['0.05'])}.")
        rows = s["regression_variants"]["rows"]
        best = max(single_changes(rows), key=lambda r: r["pck"]["0.05"])
        soft = [r for r in rows if r["run"] == "side_softargmax"]
        parts.append(f"Best single change to RegressionNet (side labels): {best['label']}, PCK@0.05 "
                     f"{f3(row(rows, 'side_regression')['pck']['0.05'])} -> {f3(best['pck']['0.05'])}"
                     + (f"; a different model, the {why.SOFTARGMAX_LABEL}, reaches {f3(soft[0]['pck']['0.05'])}."
                        if soft else "."))
    heads = load_optional(HeadStudy, results, "heads.json")
    if heads:
        parts.append(f"**Representation or architecture (REPORT.md section {n.get('heads', '-')}).** "
                     + heads_answer(heads))
    rob = load_optional(Robustness, results, "robustness.json")
    if rob:
        parts.append(f"**Beyond the training distribution (REPORT.md section {n.get('robustness', '-')}).** " + robustness_sentence(rob))
    curves = load_optional(DataEfficiency, results, "data_efficiency.json")
    if curves and curve_sentence(curves):
        parts.append(f"**How much data (REPORT.md appendix {n.get('data_efficiency', '-')}).** " + curve_sentence(curves))
    if s and "precision" in s:
        summary = s["precision"]["summary"]
        moved = [f"{model} {PRECISION_METRIC_LABELS[k]}" for model, ms in summary.items() for k, r in ms.items()
                 if not r["within_seed_noise"]]
        parts.append(f"**Speed.** The project's training path (bf16 autocast and channels-last where the CPU is fast "
                     f"at them) against plain fp32 over seeds ({sum(map(len, summary.values()))} comparisons, "
                     f"REPORT.md appendix {n.get('speed', '-')}): "
                     + ("no difference detected (Welch, Holm-corrected; a failure to detect a difference, not a proof "
                        "of equivalence)." if not moved
                        else "differences beyond seed noise (Welch, Holm-corrected): " + "; ".join(moved) + ".")
                     + f" Measured speed: REPORT.md appendix {n.get('speed', '-')} and docs/speed.md.")
    return "\n\n".join(parts)


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
