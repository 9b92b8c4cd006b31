"""What cityops itself holds, described as catalogue resources without anyone typing them.

One resource per dataset: the cases, each family (kind) of datastreams, the warnings, the
indicators, each layer of the city pack and the matter catalogue. Codes are stable
(`<city>-CITYOPS-<NAME>`), so a second description replaces the first.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from datetime import datetime

import orjson

from cityops.data import catalogue
from cityops.data.models import Item, Resource

OWNER = "城市运行管理服务中心"  # the platform's operator, the provider of what it holds
OWN_SOURCE = "cityops"
CASE_ITEMS = (Item("id", "N", "案卷号"), Item("matter_code", "C", "事部件代码"), Item("status", "C", "状态"),
              Item("source", "C", "来源"), Item("district", "C", "区代码"), Item("grid", "C", "单元网格"),
              Item("department", "C", "处置部门"), Item("reported_at", "T", "上报时间"),
              Item("dispatched_at", "T", "派遣时间"), Item("due_at", "T", "处置时限"),
              Item("disposed_at", "T", "处置时间"), Item("closed_at", "T", "结案时间"),
              Item("description", "M", "问题描述（含市民信息，不外发）"), Item("lon", "N", "经度"),
              Item("lat", "N", "纬度"), Item("reporter", "C", "上报人（个人信息，不外发）"))
FAMILY_ZH = {"water_depth": "积水深度", "rain": "雨量", "speed": "路段车速", "other": "其他感知"}


def describe(conn: sqlite3.Connection, city_code: str, city_name: str, layers: dict[str, int],
             matters: int, published: str) -> list[Resource]:
    """The platform's own resources. `layers` counts the city pack's features per layer."""
    prefix = f"{city_code.upper()}-CITYOPS"

    def own(code: str, name: str, description: str, items: tuple[Item, ...], theme: str, *,
            sharing: str = "有条件共享", condition: str = "经授权运营协议，仅限去标识化或汇总结果",
            openness: str = "有条件开放", cycle: str = "实时", keywords: str = "") -> Resource:
        return Resource(code=f"{prefix}-{code}", name=name, provider=OWNER, provider_code=city_code,
                        sharing=sharing, sharing_condition=condition if sharing == "有条件共享" else "",
                        openness=openness, openness_condition="汇总统计结果" if openness == "有条件开放" else "",
                        published=published, description=description, classification="主题信息资源/城市运行",
                        theme=theme, items=items, update_cycle=cycle, format="JSON", keywords=keywords,
                        source=OWN_SOURCE)

    cases = int(conn.execute("SELECT count(*) FROM cases").fetchone()[0])
    out = [own("CASES", f"{city_name}城市运行事件案卷", f"城市管理问题案卷（{cases} 件）：事部件、位置、办理过程与时限。"
               " City-operation cases: matter, place, workflow times.", CASE_ITEMS, "城市管理",
               keywords="案卷 事件 城市管理 网格 cases")]
    # Each imported case dataset (`cityops import`, e.g. a legacy hotline's records) is one more.
    for source, n in conn.execute("SELECT source, count(*) FROM cases WHERE source LIKE 'import:%' "
                                  "GROUP BY source ORDER BY source"):
        name = source.removeprefix("import:")
        out.append(own(f"CASES-IMPORT-{re.sub(r'[^A-Za-z0-9]+', '-', name).upper().strip('-')}",
                       f"{city_name}历史案件（导入：{name}）", f"导入的历史案件 {n} 件，来源 {name}。"
                       f" Imported case records from {name}.", CASE_ITEMS, "城市管理", cycle="不定期",
                       keywords=f"案卷 历史 导入 {name}"))
    for kind, streams in conn.execute("SELECT kind, count(*) FROM sta_datastream GROUP BY kind ORDER BY kind"):
        zh = FAMILY_ZH.get(kind, kind)
        out.append(own(f"SENSE-{kind.upper().replace('_', '')}", f"{city_name}{zh}感知数据",
                       f"{zh}监测数据流 {streams} 条（OGC SensorThings）。Sensor readings, family {kind}.",
                       (Item("datastream", "N", "数据流"), Item("phenomenon_time", "T", "观测时间"),
                        Item("result", "N", "观测值"), Item("point", "C", "监测点")), "感知监测",
                       sharing="无条件共享", openness="开放", keywords=f"感知 监测 物联网 {kind}"))
    warnings = int(conn.execute("SELECT count(*) FROM warnings").fetchone()[0])
    out.append(own("WARNINGS", f"{city_name}城市运行预警信息", f"预警 {warnings} 条（CAP 1.2）。Early warnings.",
                   (Item("identifier", "C"), Item("level", "C", "预警级别"), Item("districts", "C", "区"),
                    Item("headline_zh", "C", "标题"), Item("onset", "T"), Item("expires", "T")), "应急预警",
                   sharing="无条件共享", openness="开放", cycle="实时", keywords="预警 暴雨 渍水 CAP"))
    out.append(own("INDICATORS", f"{city_name}城市运行综合评价指标", "按区、部门、网格的立案率、按期处置率、结案率等。"
                   " Evaluation indicators by district, department and grid.",
                   (Item("group", "C", "分组"), Item("reported", "N", "上报数"), Item("on_time_rate", "N", "按期处置率"),
                    Item("closed_rate", "N", "结案率")), "综合评价", sharing="无条件共享", openness="开放",
                   cycle="每日", keywords="指标 综合评价 考核"))
    layer_zh = {"districts": "行政区划", "grids": "单元网格", "patrol_grids": "巡查网格",
                "waterlogging_points": "易渍水点", "departments": "责任部门"}
    for layer, n in layers.items():
        out.append(own(f"LAYER-{layer.upper().replace('_', '')}", f"{city_name}{layer_zh.get(layer, layer)}图层",
                       f"城市部件图层 {layer}，共 {n} 个要素。City pack layer {layer}.",
                       (Item("code", "C", "编码"), Item("name", "C", "名称"), Item("geometry", "G", "空间位置")),
                       "基础地理", sharing="无条件共享", openness="开放", cycle="不定期", keywords=f"图层 地理 {layer}"))
    out.append(own("MATTERS", "城市管理事部件目录", f"事件、部件分类与立案、结案标准，{matters} 项。Matter catalogue.",
                   (Item("code", "C", "代码"), Item("name", "C", "名称"), Item("category", "C", "大类"),
                    Item("time_limit", "C", "处置时限")), "城市管理", sharing="无条件共享", openness="开放",
                   cycle="不定期", keywords="事部件 目录 立案标准"))
    return out


def digest(resources: list[Resource]) -> str:
    """What changed since the last description (the modification time aside)."""
    body = orjson.dumps([catalogue.row_values(r)[:-2] for r in resources])
    return hashlib.sha256(body).hexdigest()


def sync(conn: sqlite3.Connection, resources: list[Resource], at: datetime) -> int:
    """Store the description; resources cityops no longer holds are dropped."""
    keep = {r.code for r in resources}
    stale = [c for (c,) in conn.execute("SELECT code FROM data_resource WHERE source = ?", (OWN_SOURCE,))
             if c not in keep]
    for code in stale:
        catalogue.remove(conn, code)
    # Only what changed gets a new modification time: a harvester asking for what changed since
    # its last run (CKAN fq=metadata_modified) is not handed every own resource again.
    stored = {r["code"]: catalogue.row_values(catalogue.from_row(r))[:15]
              for r in conn.execute("SELECT * FROM data_resource WHERE source = ?", (OWN_SOURCE,))}
    changed = [r for r in resources if stored.get(r.code) != catalogue.row_values(r)[:15]]
    return catalogue.upsert(conn, changed, at)
