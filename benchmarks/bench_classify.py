"""Classification throughput on this machine's cores: the shipped matter model.

The model embeds each text with the sentence encoder (`intel.embed`); its caches are bypassed
here (`embed.uncached`), so every figure pays for embedding, as new reports do.
classify_ngrams_one is the same model without its encoder block, one report at a time: what
the encoder costs.

Run alone: `PYTHONPATH=src python benchmarks/bench_classify.py`. classify_batch is reports per
second through the model in batches of 500 (features, scores, calibrated top-k); classify_one
is one report at a time, as the API sees them, including place extraction (and its latency in
milliseconds, classify_one_latency; the LLM back end, when a city configures one, adds its
endpoint's time, bounded by its time-out). The baseline in
the same run is jieba's word segmentation alone over the same texts (the cheapest step any
Chinese text model must take).
"""

from __future__ import annotations

import time

from cityops.intel import streams
from cityops.intel.model import words
from cityops.intel.service import shipped_model

Row = tuple[str, float, str, float, str]


def _texts(n: int) -> list[str]:
    s = streams.mixed(n, seed=5, sensor_share=0.0)
    return [t or "路面积水" for t in s.texts]


def run() -> list[Row]:
    from dataclasses import replace

    from cityops.geo.wuhan import wuhan_demo_pack
    from cityops.intel import embed
    from cityops.intel.places import locate

    model = shipped_model()
    texts = _texts(3000)
    words(texts[0])  # load jieba's dictionary and the encoder outside the timing
    model.top_k(["路灯不亮"])
    start = time.perf_counter()
    for t in texts:
        words(t)
    base = len(texts) / (time.perf_counter() - start)
    with embed.uncached():
        start = time.perf_counter()
        for a in range(0, len(texts), 500):
            model.top_k(texts[a:a + 500])
        batch = len(texts) / (time.perf_counter() - start)
    city = wuhan_demo_pack()
    one = texts[:300]
    with embed.uncached():
        start = time.perf_counter()
        for t in one:
            model.top_k([t])
            locate(city, t)
        single = len(one) / (time.perf_counter() - start)
    ngrams = replace(model, mean=None)
    start = time.perf_counter()
    for t in one:
        ngrams.top_k([t])
        locate(city, t)
    ngram_single = len(one) / (time.perf_counter() - start)
    return [
        ("classify_batch", round(batch, 1), "reports/s", round(base, 1), "reports/s jieba only"),
        ("classify_one", round(single, 1), "reports/s", round(base, 1), "reports/s jieba only"),
        ("classify_one_latency", round(1000 / single, 2), "ms a report", round(1000 / base, 2), "ms jieba only"),
        ("classify_ngrams_one_latency", round(1000 / ngram_single, 2), "ms a report", round(1000 / single, 2),
         "ms with the encoder"),
    ]


if __name__ == "__main__":
    from harness import print_rows

    print_rows(run())
