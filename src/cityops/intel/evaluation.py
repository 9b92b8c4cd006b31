"""The evaluation protocol on labelled messages (the columns of the Teddy Cup message file).

Stratified 5-fold cross-validation, shuffled with a fixed seed: the product's model family
(`TextModel`) is trained on four folds and scored on the fifth; every message is predicted
exactly once. The features are the message's subject (留言主题) and details (留言详情) only, as
two fields: character 1–2-gram TF-IDF blocks, one per field (the department model's fixed
configuration, `DEPARTMENT_ANALYZERS`), and, unless turned off, the sentence-encoder block
(`intel.embed`: the subject, and subject with details). Prior knowledge that is not a message:
the category tree (`taxonomy_3level.csv`, each second/third-level path named once as a subject,
labelled with its first-level class, its second level as the latent group) is added to every
training fold and never to a test fold. No setting is chosen on a test fold: the configuration
is fixed in code. Also reported: the triage
trade-off, the accuracy on the messages a threshold would dispatch automatically against the
share it would send to a person.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from cityops.errors import InvalidInput
from cityops.intel.model import TextModel, join_fields

SUBJECT, DETAILS, LABEL = "留言主题", "留言详情", "一级分类"
LEVEL2, LEVEL3 = "二级分类", "三级分类"
TAXONOMY = "taxonomy_3level.csv"  # the category tree, looked for beside the message file
THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# The department model: subject and details as separate fields (a subject is short and names the
# matter; details are long and wander), characters only (segmentation of long informal details
# adds noise more than meaning), the product's C = 1 and n-gram range.
DEPARTMENT_ANALYZERS = ("chars",)


@dataclass
class Result:
    n: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, tuple[int, float, float, float]]  # support, precision, recall, f1
    tradeoff: list[tuple[float, float, float]] = field(default_factory=list)  # threshold, share auto, accuracy auto
    n_prior: int = 0  # category-tree texts added to each training fold
    embedding: str | None = None  # the sentence encoder used, or None (off, or not available here)


class Prior(NamedTuple):
    """Category-tree texts added to every training fold, their first-level class and their
    second-level group."""

    texts: list[str]
    labels: list[str]
    groups: list[str]

    def of(self, classes: set[str]) -> Prior:
        keep = [i for i, label in enumerate(self.labels) if label in classes]
        return Prior(*([col[i] for i in keep] for col in self))


NO_PRIOR = Prior([], [], [])


def _csv(path: Path, columns: tuple[str, ...], required: str = LABEL) -> Any:
    """The file as a polars frame of strings: rows without `required` left out, other nulls ''."""
    import polars as pl

    try:
        df = pl.read_csv(path, infer_schema=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input error
        raise InvalidInput(f"cannot read {path}: {exc}", f"无法读取 {path}") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidInput(f"{path} lacks the columns {missing}", f"{path} 缺少列 {missing}")
    return df.filter(pl.col(required).is_not_null()).fill_null("")


def read(path: Path) -> tuple[list[str], list[str]]:
    """Texts (subject and details as two fields) and first-level labels."""
    df = _csv(path, (SUBJECT, DETAILS, LABEL))
    texts = [join_fields(s, d) for s, d in zip(df[SUBJECT], df[DETAILS], strict=True)]
    return texts, [str(x) for x in df[LABEL]]


def taxonomy(path: Path) -> Prior:
    """The category tree as training text: each distinct second/third-level path (without the
    catch-all 其他) as a subject, labelled with its first-level class, grouped by its second."""
    df = _csv(path, (LABEL, LEVEL2, LEVEL3))
    seen: dict[str, tuple[str, str]] = {}
    for top, second, third in zip(df[LABEL], df[LEVEL2], df[LEVEL3], strict=True):
        name = " ".join(x for x in (second, third) if x and x != "其他")
        if name:
            seen.setdefault(join_fields(name, ""), (str(top), str(second)))
    return Prior(list(seen), [v[0] for v in seen.values()], [v[1] for v in seen.values()])


def department_model(texts: Sequence[str], labels: Sequence[str], prior: Prior = NO_PRIOR, seed: int = 0,
                     embedding: bool = True) -> TextModel:
    """The department model's fixed configuration (see the module's note)."""
    return TextModel.fit(texts, labels, seed=seed, extra=(prior.texts, prior.labels),
                         extra_groups=prior.groups, analyzers=DEPARTMENT_ANALYZERS, n_fields=2,
                         embedding=embedding)


def macro(truth: npt.NDArray[np.str_], pred: npt.NDArray[np.str_]) -> tuple[float, dict[str, tuple[int, float, float, float]]]:
    per: dict[str, tuple[int, float, float, float]] = {}
    for label in np.unique(truth):
        tp = int(((pred == label) & (truth == label)).sum())
        p = tp / max(1, int((pred == label).sum()))
        r = tp / max(1, int((truth == label).sum()))
        per[str(label)] = (int((truth == label).sum()), p, r, 0.0 if p + r == 0 else 2 * p * r / (p + r))
    return float(np.mean([v[3] for v in per.values()])), per


def cross_validate(texts: list[str], labels: list[str], folds: int = 5, seed: int = 0,
                   prior: Prior = NO_PRIOR, embedding: bool = True,
                   on_fold: Callable[[int], None] | None = None) -> Result:
    """`prior`: added to every training fold (only the paths of the data's classes).
    `on_fold(k)` is called as fold k (1-based) is done (the CLI's progress)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    extra = prior.of(set(labels))
    pred = np.empty(len(y), dtype=object)
    conf = np.zeros(len(y))
    used: str | None = None
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, y)
    for k, (train, test) in enumerate(splits, 1):
        model = department_model([texts[i] for i in train], list(y[train]), extra, seed, embedding)
        used = model.info.get("embedding")
        p = model.proba([texts[i] for i in test])
        pred[test] = [model.labels[j] for j in p.argmax(axis=1)]
        conf[test] = p.max(axis=1)
        if on_fold is not None:
            on_fold(k)
    pred_s = pred.astype(str)
    f1, per = macro(y, pred_s)
    right = pred_s == y
    tradeoff = []
    for t in THRESHOLDS:
        auto = conf >= t
        tradeoff.append((t, float(auto.mean()), float(right[auto].mean()) if auto.any() else float("nan")))
    return Result(len(y), float(right.mean()), f1, per, tradeoff, len(extra.texts), used)


def matter_set() -> tuple[list[str], list[str]]:
    """The project's own matter evaluation set (authored sentences across the majors, never
    used in training): `intel/data/matter_eval.csv`."""
    import csv
    import io
    from importlib import resources

    raw = (resources.files("cityops.intel") / "data" / "matter_eval.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(raw)))
    return [r["text"] for r in rows], [r["matter_code"] for r in rows]


def by_major(model: TextModel, texts: list[str], codes: list[str]) -> tuple[float, float, dict[str, tuple[int, float, float]]]:
    """Top-1 accuracy, top-5 accuracy and, per major, (n, top-1, top-5)."""
    ranked = model.top_k(texts, 5)
    top1 = np.array([r[0][0] == c for r, c in zip(ranked, codes, strict=True)])
    top5 = np.array([c in [k for k, _ in r] for r, c in zip(ranked, codes, strict=True)])
    majors = np.array([c[:2] for c in codes])
    per = {m: (int((majors == m).sum()), float(top1[majors == m].mean()), float(top5[majors == m].mean()))
           for m in sorted(set(majors.tolist()))}
    return float(top1.mean()), float(top5.mean()), per
