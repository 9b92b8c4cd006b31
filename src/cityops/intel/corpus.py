"""The shipped training text: written by the project from the catalogue, nothing else.

Each matter contributes its name, its keywords and its English name, in sentences shaped like
what people write to a hotline (a place, the thing, what is wrong, a plea). The place words and
phrasings below are authored here; no citizen message is copied. A city's corrections (triage)
are added to this at retraining.
"""

from __future__ import annotations

import random

from cityops.catalog.service import Catalogue

PLACES = (
    "小区门口", "我家楼下", "学校附近", "公交站旁边", "菜市场边上", "十字路口", "地铁站出口",
    "医院门口", "公园里", "桥下", "人行道上", "老旧小区里", "商业街", "路边", "江滩",
    "中山大道", "解放大道", "建设大道", "友谊路", "民主路", "光谷大道", "珞喻路", "雄楚大道",
    "汉阳大道", "和平大道", "武珞路", "发展大道", "幸福路", "人民路", "学府路",
)
OPENERS = ("", "", "市民反映：", "热线来电：", "巡查发现：", "你好，", "投诉：", "反映：")
COMPONENT_FAULTS = ("损坏", "破损", "缺失", "坏了", "松动", "被撞坏了", "倾斜", "丢了", "需要维修",
                    "存在安全隐患")
EVENT_TAILS = ("", "，很严重", "，好久没人管", "，影响出行", "，影响居民生活", "，请尽快处理",
               "，希望相关部门管一管", "，已经好几天了")
PLEAS = ("", "请尽快处理。", "希望有关部门处理。", "麻烦派人来看看。", "多次反映无果。")
EN = ("{x} near {p}", "Report: {x} at {p}, please fix", "{x} on the street outside my home")
EN_PLACES = ("the school", "Main Street", "the bus stop", "the park", "the market")


def matter_corpus(catalogue: Catalogue, per_matter: int = 24, seed: int = 20261201) -> tuple[list[str], list[str]]:
    """(texts, matter codes): deterministic for a catalogue and seed."""
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[str] = []
    for entry in catalogue.matters():
        core = entry.name.removesuffix("异常")
        seeds = list(dict.fromkeys([entry.name, core, *entry.keywords]))
        component = entry.is_component_matter
        own = [entry.name, core + ("损坏" if component else "")]
        for i in range(per_matter):
            thing = seeds[i % len(seeds)] if i < 2 * len(seeds) else rng.choice(seeds)
            place = rng.choice(PLACES)
            if component:
                fault = rng.choice(COMPONENT_FAULTS)
                what = f"{place}的{thing}{fault}" if "损坏" not in thing else f"{place}的{thing}"
            else:
                what = f"{place}{thing}{rng.choice(EVENT_TAILS)}"
            texts.append(f"{rng.choice(OPENERS)}{what}。{rng.choice(PLEAS)}")
            labels.append(entry.code)
        texts.extend(own)
        labels.extend([entry.code] * len(own))
        if entry.name_en:
            for template in EN:
                texts.append(template.format(x=entry.name_en, p=rng.choice(EN_PLACES)))
                labels.append(entry.code)
    return texts, labels
