"""The text classifier: TF-IDF over characters and jieba words, optionally sentence embeddings,
a linear SVM, calibrated scores.

Why this family: it trains in seconds on two cores, needs no weights from outside (jieba ships
its dictionary), reads Chinese without caring much about segmentation errors (the character
n-grams carry it) and English as well. The SVM's scores s become probabilities by a softmax at
a temperature T, p = softmax(s / T), with T fitted on a held-out fold (minimum log loss); so a
confidence of 0.8 means about 80 % of such answers are right, which the triage threshold needs.
The fitted weights are kept as a float32 matrix, not as the fitting library's objects.

With `embedding=True` each text also gets dense blocks from a multilingual sentence encoder
(`intel.embed`): for a two-field text the subject alone and subject with details, centred on
the training texts' mean and unit length, weighted like one TF-IDF block in all. They carry
meaning the n-grams miss ("公交车" and "公共汽车" share one character). With `extra_groups`
(the second level of a category tree, one name per `extra` text) each class becomes a set of
latent sub-classes: a training text joins the group of its own class whose tree entry it is
nearest to in embedding space, the SVM separates the groups, and a class scores its best
group's score. A class such as 城乡建设 that gathers buses, housing funds and planning is no
longer one linear region.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, hstack

from cityops.intel.text import MODEL_CHARS, clean

FORMAT = 3  # bump when the pickled layout changes; older artifacts are refused, not misread
READS = (2, 3)  # format 2: no embedding block, no groups
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


def views(text: str, n_fields: int) -> list[str]:
    """What the sentence encoder reads of a text (cleaned, cut like the n-grams, case kept): a
    two-field text as its subject and as subject with details; else the whole text."""
    text = clean(text)[:MODEL_CHARS]
    if n_fields < 2:
        return [text]
    subject = field_of(0, text).strip()
    rest = " ".join(field_of(i, text).strip() for i in range(1, n_fields)).strip()
    return [subject or rest, f"{subject}。{rest}" if subject and rest else subject or rest]


def embedded(texts: Sequence[str], n_fields: int) -> npt.NDArray[np.float32]:
    """The encoder's vectors of these texts' views (views × texts × dim)."""
    from cityops.intel import embed

    per = [views(t, n_fields) for t in texts]
    return np.stack([embed.embed([p[v] for p in per]) for v in range(2 if n_fields >= 2 else 1)])


def block(vectors: npt.NDArray[np.float32], mean: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The embedding block of `embedded` vectors: per view centred on `mean` (views × dim), unit
    length, the views side by side and scaled so that the whole block has unit length."""
    e = vectors - mean[:, None, :]
    e = e / np.maximum(np.linalg.norm(e, axis=2, keepdims=True), 1e-6) / np.sqrt(len(mean))
    return np.ascontiguousarray(np.concatenate(list(e), axis=1), dtype=np.float32)


def dense(texts: Sequence[str], n_fields: int, mean: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return block(embedded(texts, n_fields), mean)


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


GROUP = "\u241f"  # joins a class and its latent group in the SVM's labels


@dataclass
class TextModel:
    """A fitted classifier: vectoriser, weights (rows × features), temperature. `rows` names the
    class of each weight row when classes have latent groups (rows sorted by class), else None:
    one row per class. `mean` is the embedding block's centre (views × dim), None without one."""

    labels: tuple[str, ...]
    vectoriser: Any
    coef: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    temperature: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)
    mean: npt.NDArray[np.float32] | None = None
    rows: npt.NDArray[np.int64] | None = None

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], c: float = 1.0,
            max_chars: int = 40_000, max_words: int = 20_000, seed: int = 0,
            analyzers: Sequence[str] = ANALYZERS, n_fields: int = 1,
            extra: tuple[Sequence[str], Sequence[str]] = ((), ()),
            embedding: bool = False, extra_groups: Sequence[str] = ()) -> TextModel:
        """`extra` (texts, labels) are always trained on and never held out for the temperature:
        prior knowledge such as a category tree's names, not examples of real input.
        `embedding`: add the sentence-encoder block (left out, and said so in `info`, where the
        encoder cannot load). `extra_groups`: a group name per extra text (latent sub-classes,
        used with the embedding block)."""
        from cityops.intel import embed

        base, y = _at_least([clean(t)[:MODEL_CHARS] for t in texts], list(labels), 2)
        if len(set(y)) < 2:
            raise ValueError("need at least two classes to train")
        if extra_groups and len(extra_groups) != len(extra[0]):
            raise ValueError("extra_groups needs one group per extra text")
        wanted, embedding = embedding, embedding and embed.available()
        n_real = len(base)
        # 1. temperature, from a held-out fold (every class keeps an example on each side)
        rng = np.random.default_rng(seed)
        y_arr = np.asarray(y)
        held = np.zeros(len(y), dtype=bool)
        for label in np.unique(y_arr):
            idx = np.flatnonzero(y_arr == label)
            rng.shuffle(idx)
            held[idx[: max(1, len(idx) // 5)]] = True
        base += [clean(t)[:MODEL_CHARS] for t in extra[0]]
        y += list(extra[1])
        x_text = [b.lower() for b in base]
        held = np.concatenate([held, np.zeros(len(extra[0]), dtype=bool)])
        fitted = ~held

        # the encoder's vectors of every text, once; the centre of the fit part and of all real texts
        vectors = embedded(base, n_fields) if embedding else None
        real_fit = np.flatnonzero(fitted[:n_real])
        mean_fit = None if vectors is None else vectors[:, real_fit].mean(axis=1)
        mean_all = None if vectors is None else vectors[:, :n_real].mean(axis=1)

        def matrix(x: Any, mean: npt.NDArray[np.float32] | None, pick: npt.NDArray[np.int64]) -> Any:
            """TF-IDF rows `x` of texts `pick`, with their embedding block when the model has one."""
            return x if vectors is None or mean is None else hstack([x, csr_matrix(block(vectors[:, pick], mean))]).tocsr()

        targets = list(y)
        if vectors is not None and mean_all is not None and extra_groups:
            targets = _grouped(block(vectors, mean_all), y, n_real, list(extra_groups))
        fold = _features(max_chars, max_words, analyzers, n_fields)
        train, test = np.flatnonzero(fitted), np.flatnonzero(held)
        x_fit = matrix(fold.fit_transform([x_text[i] for i in train]), mean_fit, train)
        coef, bias, classes = _svm(x_fit, [targets[i] for i in train], c)
        part_labels, coef, bias, rows = _rows(classes, coef, bias)
        x_held = matrix(fold.transform([x_text[i] for i in test]), mean_fit, test)
        raw = np.asarray(x_held @ coef.T + bias, dtype=np.float64)
        scores = _reduce(raw, _starts(rows))
        pos = {k: i for i, k in enumerate(part_labels)}
        temperature = fit_temperature(scores, np.array([pos[k] for k in y_arr[held[:n_real]]]))
        # 2. the model itself, on everything
        vectoriser = _features(max_chars, max_words, analyzers, n_fields)
        x_all = matrix(vectoriser.fit_transform(x_text), mean_all, np.arange(len(base)))
        for _, step in vectoriser.transformer_list:
            step.stop_words_ = None  # only the pruned terms: large, and not needed to predict
        coef, bias, classes = _svm(x_all, targets, c)
        labels_, coef, bias, rows = _rows(classes, coef, bias)
        info = {"n_train": len(texts), "n_extra": len(extra[0]), "classes": len(labels_),
                "temperature": temperature, "analyzers": list(analyzers), "fields": n_fields,
                "embedding": embed.NAME if embedding else None,
                "groups": int(len(coef)) if rows is not None else None}
        if wanted and not embedding:
            info["embedding_missing"] = embed.why_missing()
        return cls(labels_, vectoriser, coef, bias, temperature, info, mean_all, rows)

    def __post_init__(self) -> None:
        # features × rows, contiguous: sparse @ dense would copy a transposed view per call
        self._weights = np.ascontiguousarray(self.coef.T)
        # The fitting library's transform costs ~40 ms a call in validation and dispatch; the
        # same TF-IDF (sublinear tf × idf, l2 per block) is computed here from its vocabulary.
        self._parts = []
        offset = 0
        for _, step in self.vectoriser.transformer_list:
            self._parts.append((step.build_analyzer(), step.vocabulary_, np.asarray(step.idf_, np.float64), offset))
            offset += len(step.vocabulary_)
        self._dense_at = offset
        self._starts = _starts(self.rows)

    def _dense_scores(self, texts: Sequence[str]) -> Floats | float:
        if self.mean is None:
            return 0.0
        return np.asarray(dense(texts, int(self.info.get("fields", 1)), self.mean) @ self._weights[self._dense_at:],
                          dtype=np.float64)

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
            raw = np.asarray(x @ self._weights[:self._dense_at] + self.bias, dtype=np.float64)
        else:
            raw = np.vstack([self._row(prepare(t)) for t in texts])
        return _reduce(raw + self._dense_scores(texts), self._starts)

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
        return replace(self, temperature=temperature, info=info), stats

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[j] for j in self.scores(texts).argmax(axis=1)]

    def dumps(self) -> bytes:
        body = pickle.dumps({
            "format": FORMAT, "labels": self.labels, "vectoriser": self.vectoriser,
            "coef": self.coef.astype(np.float16), "bias": self.bias,
            "temperature": self.temperature, "info": self.info, "mean": self.mean, "rows": self.rows,
        })
        return hashlib.sha256(body).hexdigest().encode() + b"\n" + body

    @classmethod
    def loads(cls, data: bytes) -> TextModel:
        """Only artifacts this platform wrote (their digest is checked) are unpickled."""
        digest, _, body = data.partition(b"\n")
        if hashlib.sha256(body).hexdigest().encode() != digest:
            raise ValueError("model artifact is damaged (digest mismatch)")
        obj = pickle.load(io.BytesIO(body))  # noqa: S301 - our own artifact, digest checked
        if obj.get("format") not in READS:
            raise ValueError(f"model artifact format {obj.get('format')} is not one of {READS}")
        return cls(tuple(obj["labels"]), obj["vectoriser"], obj["coef"].astype(np.float32),
                   obj["bias"], float(obj["temperature"]), dict(obj["info"]), obj.get("mean"), obj.get("rows"))


def _starts(rows: npt.NDArray[np.int64] | None) -> npt.NDArray[np.int64] | None:
    return None if rows is None else np.flatnonzero(np.r_[True, np.diff(rows) != 0])


def _reduce(raw: Floats, starts: npt.NDArray[np.int64] | None) -> Floats:
    """Row scores to class scores: a class scores its best group (rows sorted by class)."""
    return raw if starts is None else np.maximum.reduceat(raw, starts, axis=1)


def _grouped(x: npt.NDArray[np.float32], y: list[str], n_real: int, groups: list[str]) -> list[str]:
    """SVM targets with latent groups: each extra (tree) text is its class and group; each real
    text joins the group of the nearest extra text of its own class (cosine of the embedding
    block); a class with no extra text keeps one group."""
    y_arr = np.asarray(y)
    extra_y = y_arr[n_real:]
    out = [f"{label}{GROUP}{group}" for label, group in zip(extra_y, groups, strict=True)]
    sims = x[:n_real] @ x[n_real:].T  # real × extra
    sims[y_arr[:n_real, None] != extra_y[None, :]] = -np.inf
    best = sims.argmax(axis=1)
    has = np.isfinite(sims[np.arange(n_real), best])
    real = [f"{y[i]}{GROUP}{groups[best[i]]}" if has[i] else f"{y[i]}{GROUP}" for i in range(n_real)]
    return real + out


def _rows(classes: list[str], coef: npt.NDArray[np.float32], bias: npt.NDArray[np.float32]
          ) -> tuple[tuple[str, ...], npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64] | None]:
    """The SVM's classes (maybe class␟group) as (labels, coef, bias, rows): rows sorted by class."""
    parents = [k.split(GROUP, 1)[0] for k in classes]
    if all(GROUP not in k for k in classes):
        return tuple(classes), coef, bias, None
    labels = tuple(sorted(set(parents)))
    pos = {k: i for i, k in enumerate(labels)}
    rows = np.array([pos[p] for p in parents], dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    return labels, coef[order], bias[order], rows[order]


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
