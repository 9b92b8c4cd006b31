"""The text model family: the sentence-encoder block, latent groups, the encoder's absence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.intel import embed
from cityops.intel.model import TextModel, _reduce, _starts, dense, embedded, join_fields, views

# Two classes that each gather unlike matters, as a first-level department class does.
TRAIN = {
    "城乡建设": ["公交车晚上收班太早", "公共汽车站台破损", "小区物业乱收停车费", "物业不管电梯维修",
             "住房公积金贷款办不下来", "公积金提取手续太复杂"],
    "劳动和社会保障": ["工厂拖欠工人工资三个月", "老板不发工资", "养老保险断缴怎么补",
                "社保卡补办太慢", "退休金发放推迟", "退休人员待遇偏低"],
}
TREE = [("公共汽车", "城乡建设", "城市建设和市政管理"), ("物业服务", "城乡建设", "住房保障与房地产"),
        ("住房公积金", "城乡建设", "住房保障与房地产"), ("拖欠工资", "劳动和社会保障", "工资福利"),
        ("城镇职工社会保险", "劳动和社会保障", "城镇职工社会保险"), ("退休金发放", "劳动和社会保障", "退休政策及待遇")]


def _data() -> tuple[list[str], list[str]]:
    texts = [join_fields(t, f"{t}，请尽快处理。") for label, ts in TRAIN.items() for t in ts]
    labels = [label for label, ts in TRAIN.items() for _ in ts]
    return texts, labels


@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
@settings(max_examples=60, deadline=None)
def test_a_class_scores_its_best_group(n_classes: int, n_rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = np.sort(np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n_rows)]))
    raw = rng.normal(size=(3, len(rows)))
    got = _reduce(raw, _starts(rows))
    want = np.stack([raw[:, rows == k].max(axis=1) for k in range(n_classes)], axis=1)
    np.testing.assert_array_equal(got, want)
    assert _reduce(raw, None) is raw


def test_views_of_one_and_two_fields() -> None:
    assert views("井盖丢了", 1) == ["井盖丢了"]
    assert views(join_fields("井盖丢了", "解放大道上"), 2) == ["井盖丢了", "井盖丢了。解放大道上"]
    assert views(join_fields("", "解放大道上"), 2) == ["解放大道上", "解放大道上"]


def test_the_embedding_block_has_unit_length() -> None:
    texts, _ = _data()
    block = dense(texts, 2, embedded(texts, 2).mean(axis=1))
    assert block.shape == (len(texts), 2 * embed.DIM)
    np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1.0, rtol=1e-4)
    # cached: the same text gives the same vector, and a second call embeds nothing new
    again = embed.embed([texts[0]])
    np.testing.assert_array_equal(again[0], embed.embed([texts[0]])[0])


def test_groups_from_the_tree_and_a_round_trip() -> None:
    texts, labels = _data()
    tree = ([join_fields(n, "") for n, _, _ in TREE], [c for _, c, _ in TREE], [g for _, _, g in TREE])
    model = TextModel.fit(texts, labels, analyzers=("chars",), n_fields=2, extra=(tree[0], tree[1]),
                          extra_groups=tree[2], embedding=True)
    assert model.labels == ("劳动和社会保障", "城乡建设")  # classes, not groups, are the answers
    assert model.rows is not None and len(model.rows) == model.info["groups"] > len(model.labels)
    assert model.info["embedding"] == embed.NAME
    probe = [join_fields("公交车站没有站牌", ""), join_fields("单位不给交社保", "")]
    assert model.predict(probe) == ["城乡建设", "劳动和社会保障"]
    again = TextModel.loads(model.dumps())
    np.testing.assert_allclose(again.proba(probe), model.proba(probe), atol=1e-3)  # float16 weights
    batch = [probe[i % 2] for i in range(40)]  # the batch path (> 32 texts) agrees with one-by-one
    np.testing.assert_allclose(model.scores(batch)[:2], model.scores(probe), atol=1e-5)


def test_without_the_encoder_the_model_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed, "_engine", None)
    monkeypatch.setattr(embed, "_missing", "ImportError: no wheel for this platform")
    texts, labels = _data()
    model: Any = TextModel.fit(texts, labels, analyzers=("chars",), n_fields=2, embedding=True)
    assert model.mean is None and model.info["embedding"] is None
    assert "no wheel" in model.info["embedding_missing"]
    assert model.predict(texts[:1]) == labels[:1]
    with pytest.raises(RuntimeError, match="not available"):
        embed.embed(["井盖"])
