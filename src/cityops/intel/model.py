"""The text classifier: TF-IDF over characters and jieba words, a linear SVM, calibrated scores.

Why this family: it trains in seconds on two cores, needs no weights from outside (jieba ships
its dictionary), reads Chinese without caring much about segmentation errors (the character
n-grams carry it) and English as well. The SVM's scores s become probabilities by a softmax at
a temperature T, p = softmax(s / T), with T fitted on a held-out fold (minimum log loss); so a
confidence of 0.8 means about 80 % of such answers are right, which the triage threshold needs.
The fitted weights are kept as a float32 matrix, not as the fitting library's objects.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from cityops.intel.text import MODEL_CHARS, clean

FORMAT = 2  # bump when the pickled layout changes; older artifacts are refused, not misread
Floats = npt.NDArray[np.float64]
FIELD = "\u241e"  # separates a text's fields (a message's subject from its details) for a `fields=2` model
ANALYZERS = ("chars", "words")


def words(text: str) -> list[str]:
    """jieba's words (module-level so a fitted vectoriser pickles)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [w for w in jieba.lcut(text) if w.strip()]


def prepare(text: str) -> str:
    return clean(text)[:MODEL_CHARS].lower()


def join_fields(*parts: str) -> str:
    """One text of several fields (subject, details) for a model fitted with `fields=len(parts)`."""
    return FIELD.join(p.replace(FIELD, " ") for p in parts)


def field_of(i: int, text: str) -> str:
    """The i-th field of a text (module-level so a fitted vectoriser pickles); missing fields are empty."""
    parts = text.split(FIELD)
    return parts[i] if i < len(parts) else ""


def _features(max_chars: int, max_words: int, analyzers: Sequence[str] = ANALYZERS, n_fields: int = 1) -> Any:
    """One l2-normalised TF-IDF block per (field, analyzer): with two fields a word in the subject
    and the same word in the details are different features, each weighted within its field."""
    from functools import partial

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    unknown = set(analyzers) - set(ANALYZERS)
    if unknown or not analyzers:
        raise ValueError(f"analyzers must be a non-empty subset of {ANALYZERS}, not {list(analyzers)}")
    blocks = []
    for i in range(n_fields):
        pre = partial(field_of, i) if n_fields > 1 else None
        name = f"{i}." if n_fields > 1 else ""
        if "chars" in analyzers:
            blocks.append((name + "chars", TfidfVectorizer(
                analyzer="char_wb", ngram_range=(1, 2), sublinear_tf=True, preprocessor=pre,
                max_features=max_chars, dtype=np.float32)))
        if "words" in analyzers:
            blocks.append((name + "words", TfidfVectorizer(
                tokenizer=words, token_pattern=None, sublinear_tf=True, preprocessor=pre,
                max_features=max_words, dtype=np.float32)))
    return FeatureUnion(blocks)


def _svm(x: Any, y: Sequence[str], c: float) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], list[str]]:
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=c, class_weight="balanced").fit(x, y)
    coef = np.asarray(svm.coef_, dtype=np.float32)
    bias = np.asarray(svm.intercept_, dtype=np.float32)
    classes = [str(k) for k in svm.classes_]
    if len(classes) == 2:  # binary: one row of scores for the second class
        coef, bias = np.vstack([-coef, coef]), np.concatenate([-bias, bias])
    return coef, bias, classes


def softmax(scores: Floats, temperature: float) -> Floats:
    z = scores / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def fit_temperature(scores: Floats, truth: npt.NDArray[np.int64]) -> float:
    """The T that minimises the log loss of softmax(scores / T) on held-out answers."""
    best, best_loss = 1.0, float("inf")
    for t in np.geomspace(0.02, 5.0, 80):
        p = softmax(scores, float(t))[np.arange(len(truth)), truth]
        loss = float(-np.log(np.clip(p, 1e-12, None)).mean())
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


@dataclass
class TextModel:
    """A fitted classifier: vectoriser, weights (classes × features), temperature."""

    labels: tuple[str, ...]
    vectoriser: Any
    coef: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    temperature: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], c: float = 1.0,
            max_chars: int = 40_000, max_words: int = 20_000, seed: int = 0,
            analyzers: Sequence[str] = ANALYZERS, n_fields: int = 1,
            extra: tuple[Sequence[str], Sequence[str]] = ((), ())) -> TextModel:
        """`extra` (texts, labels) are always trained on and never held out for the temperature:
        prior knowledge such as a category tree's names, not examples of real input."""
        x_text, y = _at_least([prepare(t) for t in texts], list(labels), 2)
        if len(set(y)) < 2:
            raise ValueError("need at least two classes to train")
        # 1. temperature, from a held-out fold (every class keeps an example on each side)
        rng = np.random.default_rng(seed)
        y_arr = np.asarray(y)
        held = np.zeros(len(y), dtype=bool)
        for label in np.unique(y_arr):
            idx = np.flatnonzero(y_arr == label)
            rng.shuffle(idx)
            held[idx[: max(1, len(idx) // 5)]] = True
        x_text += [prepare(t) for t in extra[0]]
        y += list(extra[1])
        y_arr = np.asarray(y)
        held = np.concatenate([held, np.zeros(len(extra[0]), dtype=bool)])
        fold = _features(max_chars, max_words, analyzers, n_fields)
        x_fit = fold.fit_transform([x_text[i] for i in np.flatnonzero(~held)])
        coef, bias, classes = _svm(x_fit, list(y_arr[~held]), c)
        scores = np.asarray(fold.transform([x_text[i] for i in np.flatnonzero(held)]) @ coef.T + bias)
        pos = {k: i for i, k in enumerate(classes)}
        temperature = fit_temperature(scores.astype(np.float64), np.array([pos[k] for k in y_arr[held]]))
        # 2. the model itself, on everything
        vectoriser = _features(max_chars, max_words, analyzers, n_fields)
        x_all = vectoriser.fit_transform(x_text)
        for _, step in vectoriser.transformer_list:
            step.stop_words_ = None  # only the pruned terms: large, and not needed to predict
        coef, bias, classes = _svm(x_all, y, c)
        info = {"n_train": len(texts), "n_extra": len(extra[0]), "classes": len(classes),
                "temperature": temperature, "analyzers": list(analyzers), "fields": n_fields}
        return cls(tuple(classes), vectoriser, coef, bias, temperature, info)

    def __post_init__(self) -> None:
        # features × classes, contiguous: sparse @ dense would copy a transposed view per call
        self._weights = np.ascontiguousarray(self.coef.T)
        # The fitting library's transform costs ~40 ms a call in validation and dispatch; the
        # same TF-IDF (sublinear tf × idf, l2 per block) is computed here from its vocabulary.
        self._parts = []
        offset = 0
        for _, step in self.vectoriser.transformer_list:
            self._parts.append((step.build_analyzer(), step.vocabulary_, np.asarray(step.idf_, np.float64), offset))
            offset += len(step.vocabulary_)

    def _row(self, text: str) -> Floats:
        out = self.bias.astype(np.float64)
        for analyzer, vocab, idf, offset in self._parts:
            ids = [i for i in map(vocab.get, analyzer(text)) if i is not None]
            if not ids:
                continue
            uniq, counts = np.unique(np.array(ids, np.int64), return_counts=True)
            vals = (1.0 + np.log(counts)) * idf[uniq]
            vals /= np.sqrt((vals * vals).sum())
            out = out + vals @ self._weights[uniq + offset]
        return out

    def scores(self, texts: Sequence[str]) -> Floats:
        if not texts:
            return np.zeros((0, len(self.labels)))
        if len(texts) > 32:  # batches: the library's sparse path amortises its overhead
            x = self.vectoriser.transform([prepare(t) for t in texts])
            return np.asarray(x @ self._weights + self.bias, dtype=np.float64)
        return np.vstack([self._row(prepare(t)) for t in texts])

    def proba(self, texts: Sequence[str]) -> Floats:
        """Calibrated probabilities, one row per text, columns in `labels` order."""
        return softmax(self.scores(texts), self.temperature)

    def top_k(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        p = self.proba(texts)
        order = np.argsort(-p, axis=1)[:, :k]
        return [[(self.labels[j], float(row[j])) for j in idx] for row, idx in zip(p, order, strict=True)]

    def calibrated(self, texts: Sequence[str], labels: Sequence[str]) -> tuple[TextModel, dict[str, float]]:
        """The same weights with T refitted (minimum log loss) on labelled real reports, and
        figures before and after. Texts whose label the model does not know are left out."""
        pos = {k: i for i, k in enumerate(self.labels)}
        keep = [i for i, label in enumerate(labels) if label in pos]
        if len(keep) < 5:
            raise ValueError(f"need at least 5 labelled texts of known matters to calibrate, not {len(keep)}")
        scores = self.scores([texts[i] for i in keep])
        truth = np.array([pos[labels[i]] for i in keep])
        temperature = fit_temperature(scores, truth)

        def figures(t: float) -> tuple[float, float]:
            p = softmax(scores, t)
            loss = float(-np.log(np.clip(p[np.arange(len(truth)), truth], 1e-12, None)).mean())
            return float(p.max(axis=1).mean()), loss

        (conf0, loss0), (conf1, loss1) = figures(self.temperature), figures(temperature)
        stats = {"n": float(len(keep)), "accuracy": float((scores.argmax(axis=1) == truth).mean()),
                 "temperature_before": self.temperature, "temperature": temperature,
                 "mean_confidence_before": conf0, "mean_confidence": conf1,
                 "log_loss_before": loss0, "log_loss": loss1}
        info = {**self.info, "calibrated_on": len(keep), "temperature_fitted": self.info.get("temperature")}
        info["temperature"] = temperature
        return TextModel(self.labels, self.vectoriser, self.coef, self.bias, temperature, info), stats

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[j] for j in self.scores(texts).argmax(axis=1)]

    def dumps(self) -> bytes:
        body = pickle.dumps({
            "format": FORMAT, "labels": self.labels, "vectoriser": self.vectoriser,
            "coef": self.coef.astype(np.float16), "bias": self.bias,
            "temperature": self.temperature, "info": self.info,
        })
        return hashlib.sha256(body).hexdigest().encode() + b"\n" + body

    @classmethod
    def loads(cls, data: bytes) -> TextModel:
        """Only artifacts this platform wrote (their digest is checked) are unpickled."""
        digest, _, body = data.partition(b"\n")
        if hashlib.sha256(body).hexdigest().encode() != digest:
            raise ValueError("model artifact is damaged (digest mismatch)")
        obj = pickle.load(io.BytesIO(body))  # noqa: S301 - our own artifact, digest checked
        if obj.get("format") != FORMAT:
            raise ValueError(f"model artifact format {obj.get('format')} is not {FORMAT}")
        return cls(tuple(obj["labels"]), obj["vectoriser"], obj["coef"].astype(np.float32),
                   obj["bias"], float(obj["temperature"]), dict(obj["info"]))


def _at_least(texts: list[str], labels: list[str], n: int) -> tuple[list[str], list[str]]:
    """Repeat the examples of classes with fewer than `n` (a correction may be the only one of
    its code) so that the held-out fold and the fit each see the class."""
    counts = Counter(labels)
    extra_t: list[str] = []
    extra_l: list[str] = []
    for text, label in zip(texts, labels, strict=True):
        for _ in range(max(0, n - counts[label])):
            extra_t.append(text)
            extra_l.append(label)
    return texts + extra_t, labels + extra_l
