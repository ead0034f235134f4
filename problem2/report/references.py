"""The work the report builds on, cited by number where the text uses or contradicts it, and listed last.

    cite("islam2020", "kayhan2020")     # '{cite:8,9}', shown as '[8, 9]' by show_citations (REPORT.md)
                                        # and left out by uncited (the README, which has no list)
"""
from __future__ import annotations

import re

REFERENCES = {  # key -> the reference as listed; the order gives the numbers
    "toshev2014": "A. Toshev, C. Szegedy. DeepPose: human pose estimation via deep neural networks. CVPR 2014.",
    "tompson2014": "J. Tompson, A. Jain, Y. LeCun, C. Bregler. Joint training of a convolutional network and a "
                   "graphical model for human pose estimation. NeurIPS 2014.",
    "ronneberger2015": "O. Ronneberger, P. Fischer, T. Brox. U-Net: convolutional networks for biomedical image "
                       "segmentation. MICCAI 2015.",
    "newell2016": "A. Newell, K. Yang, J. Deng. Stacked hourglass networks for human pose estimation. ECCV 2016.",
    "sun2018": "X. Sun, B. Xiao, F. Wei, S. Liang, Y. Wei. Integral human pose regression. ECCV 2018.",
    "nibali2018": "A. Nibali, Z. He, S. Morgan, L. Prendergast. Numerical coordinate regression with convolutional "
                  "neural networks (DSNT). arXiv:1801.07372, 2018.",
    "liu2018": "R. Liu, J. Lehman, P. Molino, F. Petroski Such, E. Frank, A. Sergeev, J. Yosinski. An intriguing "
               "failing of convolutional neural networks and the CoordConv solution. NeurIPS 2018.",
    "islam2020": "M. A. Islam, S. Jia, N. D. B. Bruce. How much position information do convolutional neural "
                 "networks encode? ICLR 2020.",
    "kayhan2020": "O. S. Kayhan, J. C. van Gemert. On translation invariance in CNNs: convolutional layers can "
                  "exploit absolute spatial location. CVPR 2020.",
    "zhang2020": "F. Zhang, X. Zhu, H. Dai, M. Ye, C. Zhu. Distribution-aware coordinate representation for human "
                 "pose estimation (DARK). CVPR 2020.",
    "li2021": "J. Li, S. Bian, A. Zeng, C. Wang, B. Pang, W. Liu, C. Lu. Human pose regression with residual "
              "log-likelihood estimation (RLE). ICCV 2021.",
    "li2022": "Y. Li, S. Yang, P. Liu, S. Zhang, Y. Wang, Z. Wang, W. Yang, S.-T. Xia. SimCC: a simple coordinate "
              "classification perspective for human pose estimation. ECCV 2022.",
    "srivastava2014": "N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever, R. Salakhutdinov. Dropout: a simple "
                      "way to prevent neural networks from overfitting. JMLR 15, 2014.",
    "luo2016": "W. Luo, Y. Li, R. Urtasun, R. Zemel. Understanding the effective receptive field in deep "
               "convolutional neural networks. NeurIPS 2016.",
    "mmpose2020": "MMPose contributors. OpenMMLab pose estimation toolbox and benchmark. "
                  "https://github.com/open-mmlab/mmpose, 2020.",
}
NUMBERS = {key: i for i, key in enumerate(REFERENCES, 1)}


CITATION = re.compile(r"\{cite:([\d,]+)\}")


def cite(*keys: str) -> str:
    """A citation mark for the given references (KeyError naming an unknown key); see show_citations."""
    return "{cite:" + ",".join(str(NUMBERS[k]) for k in keys) + "}"


def show_citations(text: str) -> str:
    """Each citation mark as ' [n, m]'."""
    return CITATION.sub(lambda m: "[" + ", ".join(m.group(1).split(",")) + "]", text)


def uncited(text: str) -> str:
    """text without its citation marks: for the README, which has no list to point into."""
    return re.sub(r" ?" + CITATION.pattern, "", text)
