"""A synthetic catalogue sheet of other departments' resources, for the demo, tests and benchmark.

Names are built from real bureau names and subjects of a city's government catalogue; the
entries themselves are invented (marked so in their description).
"""

from __future__ import annotations

import csv
import io
import random

from cityops.data.models import COLUMNS, CYCLES, OPENNESS, SHARING

BUREAUS = ("市公安局", "市民政局", "市自然资源和规划局", "市生态环境局", "市住房和城乡建设局", "市交通运输局",
           "市水务局", "市卫生健康委员会", "市教育局", "市市场监督管理局", "市城市管理执法委员会", "市应急管理局",
           "市气象局", "市园林和林业局", "市人力资源和社会保障局", "市医疗保障局", "市文化和旅游局", "市商务局",
           "市统计局", "市税务局", "市数据局", "市供电公司", "市燃气集团", "市公交集团")
SUBJECTS = ("企业登记", "个体工商户", "道路运输许可", "供水管网", "排水管网", "污水处理厂", "空气质量", "水质监测",
            "噪声监测", "建筑工地", "房屋租赁备案", "不动产登记", "公交线路", "公交站点", "出租车运营", "停车场",
            "医疗机构", "药品零售", "学校名录", "幼儿园", "养老机构", "社区服务中心", "社会救助", "低保对象统计",
            "就业登记", "社保参保统计", "旅游景区", "文物保护单位", "园林绿地", "古树名木", "气象观测", "降水预报",
            "应急避难场所", "危险化学品企业", "燃气管线", "供电线路", "路灯设施", "井盖设施", "垃圾转运站", "公共厕所")
ASPECTS = ("基本信息", "名录", "统计", "监测数据", "许可信息", "检查记录", "空间分布", "年度报告", "实时数据", "变更记录")
FORMATS = ("CSV", "JSON", "XLSX", "数据库", "接口")
HEADER = list(COLUMNS.values())


def sheet(n: int, seed: int = 7, city_code: str = "420100") -> str:
    """`n` catalogue rows as CSV text with the catalogue's Chinese headers."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for i in range(n):
        bureau, subject, aspect = rng.choice(BUREAUS), rng.choice(SUBJECTS), rng.choice(ASPECTS)
        sharing = rng.choice(SHARING)
        items = ";".join(f"{subject}{f}:{t}" for f, t in (("编号", "C"), ("名称", "C"), ("数量", "N"), ("日期", "D"))[
            : rng.randint(2, 4)])
        writer.writerow([
            f"{city_code}-{BUREAUS.index(bureau):02d}-{i:06d}", f"{bureau}{subject}{aspect}",
            f"{bureau}掌握的{subject}{aspect}（示例数据，非真实目录）。", bureau,
            f"11{city_code}{BUREAUS.index(bureau):04d}", "部门信息资源", subject[:2], items, sharing,
            "用于政务服务与城市治理，需经提供方审核" if sharing == "有条件共享" else "", rng.choice(OPENNESS),
            "", rng.choice(CYCLES), rng.choice(FORMATS), f"{subject} {aspect}",
            f"20{rng.randint(18, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        ])
    return out.getvalue()
