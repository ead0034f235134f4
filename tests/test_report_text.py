"""The report's text: computed section numbers and references, and page one's answer read from the JSON."""
import re

import pytest

from problem2.core.schema import REFERENCE_DIR
from problem2.report.answer import result_numbers, why_numbers
from problem2.report.markdown import APPENDICES, number_sections, put_numbers, render
from problem2.studies.evaluation import Metrics
from problem2.studies.result_files import load_sections

DOC = "\n".join(["# Title", "## {§answer} The answer", "Section {§why}. See section {§later} and appendix {§extra}.",
                 "## {§why} Why", "Missing: section {§nowhere}.", APPENDICES, "## {§extra} More",
                 "## {§later} Later", "Back to section {§answer}."])


def test_sections_are_numbered_in_order_and_appendices_lettered():
    text, numbers = number_sections(DOC)
    assert numbers == {"answer": "1", "why": "2", "extra": "A", "later": "B"}
    assert "## 1. The answer" in text and "## 2. Why" in text
    assert "## Appendix A. More" in text and "## Appendix B. Later" in text
    # a sentence-initial reference keeps its capital; a lettered section reads 'appendix'; a missing one '-'
    assert "Section 2. See appendix B and appendix A." in text
    assert "Missing: section -." in text and "Back to section 1." in text
    assert "{§" not in text


def test_references_outside_the_report_name_it():
    numbers = {"mechanism": "3", "speed": "O"}
    assert put_numbers("Section {§mechanism}. Also (Section {§speed}).", numbers, document="REPORT.md ") == \
        "REPORT.md section 3. Also (REPORT.md appendix O)."


def test_page_one_quotes_the_committed_numbers():
    """The answer's result and mechanism sentences carry exactly the numbers of metrics.json, studies.json and
    diagnosis.json (rounded as printed)."""
    if not (REFERENCE_DIR / "diagnosis.json").exists():
        pytest.skip("no committed reference run")
    m = Metrics.load(REFERENCE_DIR / "metrics.json")
    s, d = load_sections(REFERENCE_DIR, "studies.json"), load_sections(REFERENCE_DIR, "diagnosis.json")
    result = render("answer/result", **result_numbers(m, s))
    sub = m.methods["heatmap_subpixel"].standard.pck["0.05"]
    boot = s["seeds"]["bootstrap"]["0.05"]
    assert f"PCK@0.05 {sub:.3f}" in result and f"{round(sub * 100)}% of keypoints" in result
    assert f"[{boot['low']:.3f}, {boot['high']:.3f}]" in result
    why = render("answer/why", **why_numbers(d))
    assert f"{d['shift']['regression']['x']:.2f} px in x" in why
    assert f"x only to {d['probes']['regression']['after_pooling']['x']['mean_abs_err']:.1f} px" in why


def test_page_one_without_the_studies_says_only_what_it_has():
    """The default tier has no seeds, diagnosis or heads: page one keeps the result and the caveats, without an
    interval, a mechanism or a ceiling it cannot back."""
    if not (REFERENCE_DIR / "metrics.json").exists():
        pytest.skip("no committed reference run")
    from problem2.report.answer import section_answer
    text = section_answer(Metrics.load(REFERENCE_DIR / "metrics.json"), None, None, None, "30 epochs on 10 images")
    assert "**Why.**" not in text and "What fixes it" not in text and "bootstrap" not in text
    assert "expect more than" not in text and "images), so hands are also scored" in text
    assert "Every model trains for 30 epochs on 10 images;" in text


def test_heads_read_per_axis_are_named_and_split_by_their_features():
    from problem2.report.mechanism import head_axis_sentence, head_run_label
    assert head_run_label("head_integral_seed2") == "Integral (soft-argmax, 8 x 8), seed 2"
    assert head_run_label("head_simcc") == "SimCC, spatial features"
    assert head_run_label("axis_regression_flatten") == "axis_regression_flatten"  # not a head: its id
    d = {"variants": {"main_regression": {"shift": {"x": 0.01}}, "head_rle": {"shift": {"x": 0.004}},
                      "head_integral_seed2": {"shift": {"x": 0.996}}}}
    text = head_axis_sentence(d)
    assert "by 0.00 px (RLE without its flow, pooled)" in text
    assert "the spatial heads' by 1.00 px (Integral (soft-argmax, 8 x 8))" in text and "seed" not in text
    assert head_axis_sentence({"variants": {"main_regression": {"shift": {"x": 0.01}}}}) == ""


def test_citations_are_numbered_in_the_report_and_left_out_of_the_readme():
    from problem2.report.document import section_references
    from problem2.report.references import NUMBERS, REFERENCES, cite, show_citations, uncited
    text = f"the border leaks {cite('islam2020', 'kayhan2020')}: over seeds [0, 1]"
    assert show_citations(text) == f"the border leaks [{NUMBERS['islam2020']}, {NUMBERS['kayhan2020']}]: over seeds [0, 1]"
    assert uncited(text) == "the border leaks: over seeds [0, 1]"  # a list of seeds is not a citation
    listed = section_references()
    assert all(f"{NUMBERS[k]}. {REFERENCES[k]}" in listed for k in REFERENCES)
    cited = {int(n) for m in re.findall(r"\{cite:([\d,]+)\}", listed) for n in m.split(",")}
    assert cited == set(NUMBERS.values())  # every listed work is cited in the paragraph beside the list
