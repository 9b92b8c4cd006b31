"""Generate src/cityops/catalog/data/directory.yaml from the GB/T 47678.5-2026 fact table.

Run once from the repository root (the output is committed; the package never reads the CSV):

    python tools/build_catalogue.py [path/to/gbt47678_5_2026_components_matters.csv]

The codes, majors and zh names come from the fact table (GB/T 47678.5-2026 Appendix A and C);
English names, keywords, departments and default time limits are this project's own tables below.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "gbt47678_5_2026_components_matters.csv"
OUT = ROOT / "src" / "cityops" / "catalog" / "data" / "directory.yaml"

# Default time-limit profiles (A, B, C). Class A is the strictest; units never mix in a profile.
PROFILES: dict[str, tuple[str, str, str]] = {
    "hazard": ("2 calendar_hours", "3 calendar_hours", "4 calendar_hours"),  # open hole, fire lane
    "urgent": ("4 calendar_hours", "6 calendar_hours", "8 calendar_hours"),  # gas, power, signals
    "clean": ("2 working_hours", "4 working_hours", "6 working_hours"),  # 道路保洁 2 working hours
    "quick": ("4 working_hours", "6 working_hours", "8 working_hours"),  # 暴露垃圾, 路面积水 4 wh
    "d1": ("1 working_days", "2 working_days", "3 working_days"),
    "muck": ("2 working_days", "3 working_days", "4 working_days"),  # 渣土堆 2 working days
    "d3": ("3 working_days", "5 working_days", "7 working_days"),
    "d5": ("5 working_days", "7 working_days", "10 working_days"),
    "demolish": ("20 working_days", "25 working_days", "30 working_days"),  # 私搭乱建 拆除
}

# Components: code -> (English name, owner department type, profile of its "<component>异常"
# matter, keywords).
COMPONENTS: dict[str, tuple[str, str, str, str]] = {
    "01001": ("Water supply manhole cover", "water_supply", "hazard", "井盖 自来水井盖 上水井盖"),
    "01002": ("Sewer manhole cover", "drainage", "hazard", "井盖 污水井 下水道井盖"),
    "01003": ("Storm drain manhole cover", "drainage", "hazard", "井盖 雨水井 下水道井盖"),
    "01004": ("Storm drain grate", "drainage", "quick", "雨水箅子 下水口 积水 路面积水 渍水"),
    "01005": ("Power manhole cover", "power", "hazard", "井盖 电力井"),
    "01006": ("Street light manhole cover", "lighting", "hazard", "井盖 路灯井"),
    "01007": ("Telecom manhole cover", "telecom", "hazard", "井盖 通信井 电信井盖"),
    "01008": ("Cable TV manhole cover", "telecom", "hazard", "井盖 有线电视井盖"),
    "01009": ("Network manhole cover", "telecom", "hazard", "井盖 网络井盖 光缆井"),
    "01010": ("Heating manhole cover", "heating", "hazard", "井盖 热力井 暖气井盖"),
    "01011": ("Gas manhole cover", "gas", "hazard", "井盖 燃气井 煤气井盖"),
    "01012": ("Police manhole cover", "traffic_police", "hazard", "井盖 公安井"),
    "01013": ("Fire-fighting facility", "water_supply", "urgent", "消防栓 消火栓 消防设施"),
    "01014": ("Greening manhole cover", "greening", "hazard", "井盖 园林井 绿化井盖"),
    "01015": ("Traffic signal power manhole cover", "traffic_police", "hazard", "井盖 信号灯井"),
    "01017": ("Cable manhole cover", "power", "hazard", "井盖 电缆井"),
    "01018": ("Septic tank manhole cover", "sanitation", "hazard", "井盖 化粪池 粪池井盖"),
    "01019": ("Reclaimed water manhole cover", "water_supply", "hazard", "井盖 中水井"),
    "01020": ("Public transport manhole cover", "transport", "hazard", "井盖 公交井盖"),
    "01021": ("Oil or gas pipeline manhole cover", "gas", "hazard", "井盖 输油井 输气井"),
    "01022": ("Special-purpose manhole cover", "other", "hazard", "井盖 特殊井盖"),
    "01023": ("Unidentified manhole cover", "roads", "hazard", "井盖 无主井盖 不明井盖"),
    "01024": ("Well", "water_supply", "d3", "水井 井口"),
    "01025": ("Public water dispenser", "water_supply", "d1", "供水器 取水点 漏水"),
    "01026": ("Trench cover plate", "roads", "hazard", "沟槽盖板 盖板 排水沟盖"),
    "01027": ("Telecom cross-connect cabinet", "telecom", "d3", "通信交接箱 电信箱 交接箱"),
    "01028": ("Power facility", "power", "urgent", "电力设施 电箱 漏电"),
    "01029": ("Power facility sign", "power", "d5", "电力标识牌 电力警示牌"),
    "01030": ("Power pole", "power", "urgent", "电线杆 电杆 电力杆倾斜"),
    "01031": ("Telecom pole", "telecom", "d1", "通信杆 电信杆 线杆"),
    "01032": ("Bus stop pole", "transport", "d3", "公交站牌杆 公交立杆"),
    "01033": ("Special-purpose pole", "other", "d3", "立杆 特殊立杆"),
    "01034": ("Unidentified pole", "urban_management", "d3", "废弃杆 无主立杆 不明立杆"),
    "01035": ("Flagpole", "urban_management", "d3", "旗杆"),
    "01036": ("Oil or gas pipeline marker", "gas", "d3", "输油标志 输气标志桩 管道标志"),
    "01037": ("Street light", "lighting", "d1", "路灯 路灯不亮 灯坏了"),
    "01038": ("In-ground light", "lighting", "d3", "地灯 地埋灯"),
    "01039": ("Decorative light", "lighting", "d3", "景观灯 亮化 彩灯"),
    "01040": ("Newsstand", "urban_management", "d3", "报刊亭 报亭"),
    "01041": ("Telephone booth", "telecom", "d5", "电话亭 公用电话"),
    "01042": ("Postbox", "other", "d5", "邮筒 邮箱"),
    "01043": ("Information kiosk", "urban_management", "d5", "信息亭 查询机"),
    "01044": ("Retail kiosk", "market", "d3", "售货亭 小卖部"),
    "01045": ("Vending machine", "market", "d5", "自动售货机 售货机"),
    "01046": ("Outdoor fitness equipment", "other", "d3", "健身器材 健身设施 健身路径"),
    "01047": ("High-voltage transmission tower", "power", "urgent", "高压线 铁塔 高压电塔"),
    "01048": ("Transformer box", "power", "urgent", "变压器 箱变 配电箱"),
    "01049": ("Gas pressure regulator station", "gas", "urgent", "燃气调压站 调压箱 燃气泄漏"),
    "01050": ("Surveillance camera", "traffic_police", "d3", "监控 摄像头 电子眼"),
    "01051": ("Police booth", "traffic_police", "d5", "治安岗亭 警务亭"),
    "01052": ("Rest pavilion", "greening", "d5", "休息亭 凉亭"),
    "01053": ("Self-service payment machine", "other", "d5", "缴费机 自助缴费"),
    "01054": ("EV charging post", "power", "d1", "充电桩 充电站"),
    "01055": ("Mosquito gate", "drainage", "d5", "防蚊闸 防蚊闸门"),
    "01056": ("Pipeline crossing a river", "water_affairs", "urgent", "跨河管道 过河管"),
    "01057": ("Exposed gas pipe", "gas", "urgent", "燃气管道 煤气管 燃气泄漏"),
    "01058": ("Public clothes-drying rack", "housing", "d5", "晒衣架 晾衣架"),
    "01059": ("Used clothing collection bin", "sanitation", "d3", "旧衣回收箱 旧衣物"),
    "01060": ("Street light distribution box", "lighting", "urgent", "路灯配电箱 电箱 漏电"),
    "01061": ("Exposed heating pipe", "heating", "urgent", "供热管道 暖气管 热力管"),
    "01062": ("Telecom base station", "telecom", "d3", "基站 信号塔"),
    "01063": ("Water tower", "water_supply", "d3", "水塔"),
    "01064": ("Memorial archway", "urban_management", "d5", "牌楼 门楼 牌坊"),
    "01065": ("Responsibility notice board", "urban_management", "d5", "责任公示牌 门前三包牌"),
    "01066": ("Emergency call point (SOS)", "traffic_police", "d1", "紧急报警 SOS 一键报警"),
    "01067": ("Flood monitoring equipment", "water_affairs", "d1", "防汛监测 水位计 积水监测"),
    "01068": ("Water crane", "water_supply", "d3", "水鹤 加水点"),
    "01069": ("Waterside auxiliary facility", "water_affairs", "d3", "码头 水域设施 亲水平台"),
    "01070": ("Waterside railing", "water_affairs", "d1", "河边护栏 水域护栏 栏杆"),
    "01071": ("Flood wall", "water_affairs", "urgent", "防汛墙 堤防 渗水"),
    "01072": ("Drainage pumping station", "drainage", "urgent", "泵站 排水泵站 抽排"),
    "01073": ("Storm or sewage outfall", "drainage", "d1", "排放口 排污口 排水口"),
    "01074": ("Utility tunnel auxiliary facility", "construction", "d3", "综合管廊 管廊"),
    "01075": ("Parcel locker", "other", "d5", "快递柜 丰巢"),
    "01076": ("Public lift", "market", "urgent", "电梯 电梯故障 困人"),
    "01077": ("Multi-function pole", "roads", "d3", "综合杆 智慧杆 多杆合一"),
    "02001": ("Car park", "transport", "d3", "停车场"),
    "02002": ("Mechanical multi-storey car park", "transport", "d3", "立体车库 机械车库"),
    "02003": ("Parking meter", "transport", "d5", "停车咪表 停车收费"),
    "02004": ("Bus stop facility", "transport", "d3", "公交站 候车亭 站牌"),
    "02005": ("Taxi stand", "transport", "d5", "出租车站 打车点"),
    "02006": ("Pedestrian overpass", "roads", "d1", "天桥 人行天桥"),
    "02007": ("Pedestrian underpass", "roads", "d1", "地下通道 地道"),
    "02008": ("Interchange bridge", "roads", "d1", "立交桥 高架桥"),
    "02009": ("River bridge", "roads", "d1", "桥梁 跨河桥 大桥"),
    "02010": ("Traffic signs and markings", "traffic_police", "d3", "交通标志 路标 标线"),
    "02011": ("Height limit gantry", "roads", "d1", "限高架 限高杆"),
    "02012": ("Street name sign", "roads", "d5", "路名牌 路牌"),
    "02013": ("Place name sign", "other", "d5", "地名牌 地名标志"),
    "02014": ("Traffic light", "traffic_police", "urgent", "红绿灯 信号灯 红绿灯坏了"),
    "02015": ("Traffic signal equipment", "traffic_police", "urgent", "信号机 信号控制箱"),
    "02016": ("Traffic police booth", "traffic_police", "d5", "交通岗亭 交警岗亭"),
    "02017": ("Traffic guardrail", "roads", "d1", "护栏 隔离栏 道路护栏"),
    "02018": ("Crash barrel", "roads", "d1", "防撞桶 水马"),
    "02019": ("Pedestrian refuge island", "roads", "d3", "安全岛 交通岛"),
    "02020": ("Crosswalk bollard", "roads", "d3", "人行横道桩 隔离桩"),
    "02021": ("Sidewalk bollard", "roads", "d3", "便道桩 挡车桩 石墩"),
    "02022": ("Flexible lane separator", "traffic_police", "d3", "隔离柱 柔性隔离 弹性柱"),
    "02023": ("Road information display", "traffic_police", "d3", "诱导屏 交通显示屏"),
    "02024": ("Road noise barrier", "roads", "d5", "隔音屏 声屏障"),
    "02025": ("Non-motor vehicle parking area", "urban_management", "d3", "非机动车停放点 电动车停放"),
    "02026": ("Bike rental station", "transport", "d3", "自行车租赁点 公共自行车"),
    "02027": ("Bicycle rack", "urban_management", "d5", "存车架 自行车架"),
    "02028": ("Level crossing equipment", "transport", "urgent", "道口 铁路道口 栏杆"),
    "02029": ("Trestle pier", "transport", "d3", "栈桥 趸船"),
    "02030": ("Waterway sign", "water_affairs", "d5", "水域标示牌 航道标志"),
    "02031": ("Harbour supervision facility", "transport", "d5", "港监 航标"),
    "02032": ("Rail transit facility", "transport", "d1", "地铁 轨道交通 地铁站"),
    "02033": ("Traffic convex mirror", "traffic_police", "d3", "反光镜 广角镜 凸面镜"),
    "02034": ("Accessibility facility", "roads", "d3", "无障碍设施 无障碍"),
    "02035": ("Emergency shelter sign", "other", "d5", "应急避难 避难场所指示"),
    "02036": ("Relief station sign", "other", "d5", "救助站指示牌 救助站"),
    "02037": ("Heritage building sign", "other", "d5", "文物标志牌 文保牌"),
    "02038": ("House number plate", "other", "d5", "门牌 楼号牌 门牌号"),
    "02039": ("Police sign", "traffic_police", "d5", "公安指示牌 派出所指示"),
    "02040": ("Scenic area sign", "other", "d5", "景区标识 景区指示牌"),
    "02041": ("Parking information display", "transport", "d5", "停车诱导屏 车位显示"),
    "02042": ("Railway bridge or culvert", "transport", "d1", "铁路桥 涵洞 下穿铁路"),
    "02043": ("Speed bump", "roads", "d3", "减速带 减速垄"),
    "02044": ("Road tunnel", "roads", "d1", "隧道 公路隧道"),
    "03001": ("Public toilet", "sanitation", "d1", "公厕 厕所 卫生间"),
    "03002": ("Public toilet sign", "sanitation", "d5", "公厕指示牌 厕所指示"),
    "03003": ("Septic tank", "sanitation", "d1", "化粪池 粪便外溢 粪水"),
    "03004": ("Refuse room", "sanitation", "d1", "垃圾房 垃圾站 垃圾间"),
    "03005": ("Litter bin", "sanitation", "d1", "垃圾桶 果皮箱 垃圾箱"),
    "03006": ("Outdoor advertisement", "urban_management", "d3", "广告牌 户外广告"),
    "03007": ("Shop sign", "urban_management", "d3", "招牌 门头 店招"),
    "03008": ("Notice board", "urban_management", "d5", "宣传栏 公告栏 橱窗"),
    "03009": ("Weather station", "other", "d5", "气象站 气象监测"),
    "03010": ("Environmental monitoring station", "ecology", "d5", "环境监测站 空气监测"),
    "03011": ("Outfall monitoring station", "ecology", "d5", "排污口监测 污水口监测"),
    "03012": ("Sewage monitor", "ecology", "d5", "污水监测 水质监测"),
    "03013": ("Noise display", "ecology", "d5", "噪声显示屏 分贝屏"),
    "03014": ("Sanitation tool room", "sanitation", "d3", "环卫工具房 工具箱"),
    "03015": ("Pet waste bag dispenser", "sanitation", "d5", "拾便袋 狗便箱"),
    "03016": ("Cigarette butt bin", "sanitation", "d5", "烟头收集 灭烟柱"),
    "04001": ("Ancient or notable tree", "greening", "d1", "古树 名木 古树名木"),
    "04002": ("Street tree", "greening", "d1", "行道树 树木 倒树 断枝"),
    "04003": ("Standalone tree", "greening", "d1", "树木 大树 倒树"),
    "04004": ("Tree protection", "greening", "d5", "护树架 树木支撑"),
    "04005": ("Flower stand and planter", "greening", "d5", "花架 花钵 花箱"),
    "04006": ("Sculpture", "greening", "d5", "雕塑 城市雕塑"),
    "04007": ("Street bench", "greening", "d5", "座椅 长椅 休闲椅"),
    "04008": ("Green space railing", "greening", "d3", "绿地护栏 绿化栏杆"),
    "04009": ("Green space auxiliary facility", "greening", "d5", "绿地设施 喷灌"),
    "04010": ("Fountain", "greening", "d5", "喷泉 水景"),
    "04011": ("Tree pit", "greening", "d3", "树池 树穴 树池盖板"),
    "04012": ("Elevated planter box", "greening", "d3", "高架花箱 桥梁挂箱"),
    "04013": ("Green space", "greening", "d3", "绿地 草坪 绿化带"),
    "04014": ("Woodland and its facilities", "greening", "d5", "林地 树林 护林"),
    "05002": ("Public housing basement", "housing", "d3", "地下室 公房地下室"),
    "05003": ("Fuel, gas or charging station", "other", "d1", "加油站 加气站 充电站"),
    "05009": ("Cultural heritage site", "other", "d3", "文物 古迹 文保单位"),
}

# Matters 06-10: code -> (English name, department type, profile, verify on site, keywords).
# verify_on_site is false where closing is checked on records: purely administrative matters
# and transient acts that leave nothing for an inspector to see.
MATTERS: dict[str, tuple[str, str, str, bool, str]] = {
    "06001": ("Illegal construction", "urban_management", "demolish", True, "违建 违章建筑 乱搭乱建 私搭乱建"),
    "06002": ("Unpermitted shopfront renovation", "urban_management", "d3", True, "店面装修 违规装修"),
    "06003": ("Illegal kerb ramp", "urban_management", "d3", True, "接坡 搭坡 违章接坡"),
    "06004": ("Soiled or damaged building facade", "urban_management", "d5", True, "外墙 立面 墙面脏"),
    "06005": ("Untidy street-facing balcony or roof", "urban_management", "d5", True, "阳台 屋顶 脏乱差"),
    "06006": ("Unauthorised flags on street-facing buildings", "urban_management", "d1", True, "彩旗 挂旗"),
    "06007": ("Laundry hung along the street", "urban_management", "quick", True, "晾晒 晒衣服 沿街晾挂"),
    "06008": ("Unauthorised cables, pipes or poles", "urban_management", "d5", True, "乱拉电线 飞线 私拉管线"),
    "06009": ("Low-mounted air-conditioner unit", "urban_management", "d5", True, "空调外机 滴水"),
    "06010": ("Exposed rubbish", "sanitation", "quick", True, "垃圾 乱扔垃圾 垃圾没人清"),
    "06011": ("Accumulated rubbish and muck", "sanitation", "muck", True, "渣土 建筑垃圾 渣土堆 垃圾堆"),
    "06012": ("Dirty road", "sanitation", "clean", True, "道路不洁 道路保洁 路面脏"),
    "06013": ("Damaged road surface", "roads", "d1", True, "坑洼 路面破损 塌陷 坑"),
    "06014": ("Spillage on the road", "sanitation", "clean", True, "遗撒 撒漏 泥浆"),
    "06015": ("Dirty beach or riverbank", "sanitation", "quick", True, "河滩 沙滩 垃圾"),
    "06016": ("Faded road markings", "traffic_police", "d5", True, "标线 斑马线 不清晰"),
    "06017": ("Littered green space", "greening", "quick", True, "绿地垃圾 绿化带垃圾"),
    "06018": ("Greening waste left behind", "greening", "d1", True, "树枝 修剪枝叶 绿化垃圾"),
    "06019": ("Non-decorative objects hung on trees or facilities", "urban_management", "d1", True, "树挂 乱挂 吊挂"),
    "06020": ("Burning rubbish or leaves", "urban_management", "clean", True, "焚烧 烧垃圾 烧树叶 冒烟"),
    "06021": ("Plant pests and diseases", "greening", "d5", True, "病虫害 虫害 树生虫"),
    "06022": ("Illegal tree felling", "greening", "quick", True, "砍树 伐树 毁树"),
    "06023": ("Damaged embankment", "water_affairs", "d1", True, "堤岸 河堤 护坡"),
    "06024": ("Disorder on the water", "water_affairs", "quick", True, "野泳 钓鱼 电鱼 水上"),
    "06025": ("Dirty water surface", "water_affairs", "d1", True, "水面垃圾 漂浮物 河面"),
    "06026": ("River pollution", "water_affairs", "d1", True, "河水污染 黑臭水体 河道发臭"),
    "06027": ("Cooking fume pollution", "ecology", "d3", True, "油烟 餐饮油烟"),
    "06028": ("Noise nuisance", "ecology", "quick", True, "噪音 噪声 扰民 吵"),
    "06029": ("Open-air barbecue", "urban_management", "clean", True, "烧烤 露天烧烤 烟熏"),
    "06030": ("Illegal discharge of sewage or wastewater", "water_affairs", "quick", True, "排污 污水 乱排"),
    "06032": ("Informal landfill", "sanitation", "d5", True, "垃圾场 填埋 垃圾山"),
    "06033": ("Dumped medical waste", "ecology", "urgent", True, "医疗废物 针头 医疗垃圾"),
    "06034": ("Abandoned vehicle", "urban_management", "d5", True, "僵尸车 废弃车辆 报废车"),
    "06035": ("Discarded furniture or appliances", "sanitation", "d1", True, "大件垃圾 旧家具 沙发"),
    "06036": ("Piled-up clutter", "urban_management", "d1", True, "乱堆 堆物 杂物"),
    "06037": ("Animal carcass", "sanitation", "clean", True, "死猫 死狗 动物尸体"),
    "06038": ("Unauthorised poultry or livestock keeping", "urban_management", "d5", True, "养鸡 养鸭 家禽"),
    "06039": ("Illegal road access opening", "roads", "d5", True, "开道口 破绿开口"),
    "06040": ("Private parking locks or bollards", "urban_management", "d1", True, "地锁 车位锁 阻车桩"),
    "06041": ("Unsorted waste", "sanitation", "d1", True, "垃圾分类 混投"),
    "06042": ("Overflowing refuse station or bin", "sanitation", "quick", True, "垃圾满了 垃圾桶满 满溢"),
    "06043": ("Damaged awning or parasol", "urban_management", "d3", True, "遮阳篷 雨棚 遮阳伞"),
    "06044": ("Damaged festive decorations", "urban_management", "d1", True, "灯笼 节日装饰"),
    "06045": ("Illegal occupation or destruction of green space", "greening", "d3", True, "毁绿 占绿 种菜"),
    "06046": ("Encroachment on a river channel", "water_affairs", "d5", True, "占用河道 河道违建"),
    "06047": ("Disorder in a park", "greening", "quick", True, "公园 广场舞 公园秩序"),
    "06048": ("Damaged slope or retaining wall", "roads", "d1", True, "挡土墙 边坡 护坡垮塌"),
    "06049": ("Damaged steps", "roads", "d3", True, "台阶 踏步"),
    "06050": ("Damaged or missing kerbstone", "roads", "d3", True, "路沿石 路缘石 道牙"),
    "06051": ("Damaged tactile paving", "roads", "d3", True, "盲道"),
    "06052": ("Damaged accessibility ramp", "roads", "d3", True, "无障碍坡道 坡道"),
    "07001": ("Illegal flyposting", "urban_management", "d1", True, "小广告 牛皮癣 乱贴"),
    "07002": ("Handing out flyers on the street", "urban_management", "clean", False, "发传单 派发广告"),
    "07003": ("Non-compliant outdoor advertising", "urban_management", "d5", True, "违规广告 广告牌"),
    "07004": ("Non-standard language in advertising", "urban_management", "d5", False, "错别字 繁体字 用字不规范"),
    "07006": ("Non-compliant shop sign", "urban_management", "d5", True, "招牌 店招 门头"),
    "07007": ("Non-compliant banners or slogans", "urban_management", "d1", True, "横幅 条幅 标语"),
    "07008": ("Damaged public-interest publicity material", "urban_management", "d3", True, "公益广告 宣传牌破损"),
    "08001": ("Construction disturbance", "construction", "quick", True, "施工噪音 夜间施工 扰民"),
    "08002": ("Construction occupying the road", "construction", "d1", True, "施工占道 占路施工"),
    "08003": ("Unpermitted road excavation", "roads", "quick", True, "挖路 掘路 开挖"),
    "08004": ("Construction dust", "construction", "quick", True, "扬尘 灰尘 工地灰大"),
    "08005": ("Construction waste", "construction", "d1", True, "建筑垃圾 施工垃圾"),
    "08006": ("Construction material piled improperly", "construction", "d1", True, "建材 乱堆 砂石"),
    "08007": ("Site hoarding problem", "construction", "d1", True, "围挡 工地围挡"),
    "08008": ("Unpaved site road", "construction", "d5", True, "未硬化 工地道路"),
    "08009": ("Damaged road at a site entrance", "construction", "d3", True, "工地出入口 路面压坏"),
    "08010": ("Site not cleared after works", "construction", "d3", True, "完工未清 场光地净"),
    "08011": ("Muck truck without closed cover", "urban_management", "clean", False, "渣土车 未密闭 撒漏"),
    "08012": ("Mud tracked out by site vehicles", "construction", "quick", True, "车轮带泥 带泥上路"),
    "08013": ("Non-compliant work at height", "construction", "urgent", True, "高空作业 吊篮 蜘蛛人"),
    "08014": ("Exposed embedded fixtures", "roads", "d1", True, "预埋件 钢筋外露 螺栓"),
    "08015": ("Damaged construction notice board", "construction", "d5", True, "施工公示牌 工程铭牌"),
    "08016": ("Unpermitted construction", "construction", "demolish", True, "无证建设 违法建设 无施工许可"),
    "09001": ("Unlicensed street vendor", "urban_management", "clean", True, "游商 流动摊贩 小贩"),
    "09002": ("Morning or night market problem", "urban_management", "d1", True, "夜市 早市"),
    "09003": ("Vagrancy and begging", "other", "quick", False, "乞讨 流浪 流浪汉"),
    "09004": ("Disorderly scrap collection", "urban_management", "d1", True, "废品收购 收废品"),
    "09005": ("Business spilling out of the shop", "urban_management", "clean", True, "出店经营 店外经营 门口摆放"),
    "09006": ("Street trading on the road", "urban_management", "clean", True, "占道经营 摆摊 摊贩"),
    "09008": ("Sale of illegal publications", "market", "d1", True, "盗版 非法出版物"),
    "09009": ("Illegal car parking", "traffic_police", "clean", True, "乱停车 违停 违章停车"),
    "09010": ("Disorderly parking of bicycles and e-bikes", "urban_management", "clean", True, "电动车乱停 自行车乱停"),
    "09011": ("Shared bike disorder", "urban_management", "quick", True, "共享单车 单车堆积"),
    "09012": ("Fire lane blocked", "traffic_police", "hazard", True, "消防通道 堵消防通道"),
    "09013": ("Street-side slaughtering", "market", "quick", True, "宰杀 杀鸡 屠宰"),
    "09014": ("Animal-drawn cart in the city", "traffic_police", "quick", False, "马车 畜力车"),
    "09015": ("Unlicensed food outlet", "market", "d3", True, "无证餐饮 黑作坊"),
    "09016": ("Non-compliant car park", "transport", "d5", True, "违规停车场 私设停车场"),
    "09017": ("Illegal use of space under a bridge", "roads", "d5", True, "桥下空间 桥洞"),
    "09018": ("Tracked or steel-wheeled vehicle on the road", "traffic_police", "clean", False, "履带车 铁轮车 压坏路面"),
    "09019": ("Blocked accessibility route", "urban_management", "quick", True, "占用盲道 无障碍通道"),
    "09020": ("Disorder at a farmers' market", "market", "d1", True, "菜市场 农贸市场"),
    "09021": ("Car washing on the road", "urban_management", "quick", True, "洗车 占道洗车"),
    "09022": ("Promotions occupying the road", "urban_management", "quick", True, "促销 占道宣传 摆台"),
    "10001": ("Snow or ice on the road", "sanitation", "urgent", True, "积雪 结冰 路面结冰 道路结冰"),
    "10002": ("Fallen overhead cable", "telecom", "urgent", True, "电线掉落 线缆脱落 飞线垂落"),
}

HEADER = """\
# cityops catalogue: 管理部件和事项 / city management components and matters.
# Source: GB/T 47678.5-2026 城市运行管理服务平台 第5部分：管理部件和事项,
#   Appendix A (153 管理部件 / components) and Appendix C (250 管理事项 / matters):
#   codes, majors and zh names. Numbering gaps (01016, 05001, 05004-05008, ...) are as transcribed.
# Added by cityops (not part of the standard): name_en, keywords, department (a department
#   *type*, see cityops.catalog.models.DEPARTMENT_TYPES), default time limits per area class
#   A/B/C and verify_on_site. Time limits are local configuration: a city overrides them with
#   its own YAML (see cityops.catalog.service.load_catalogue). Defaults follow published city
#   examples where one exists (暴露垃圾 4 working hours, 道路保洁 2 working hours, 路面积水 4 working
#   hours, 渣土堆 2 working days, 私搭乱建 20 working days to demolish); hazards are in calendar hours.
# Generated by tools/build_catalogue.py; edit the tables there and regenerate.
"""


def _extra_keywords(name: str) -> list[str]:
    """Words citizens add when reporting a broken component."""
    if name.endswith("井盖"):
        return ["井盖丢失", "井盖破损", "井盖松动"]
    if "灯" in name:
        return ["不亮", "灯坏了"]
    return ["损坏"]


def _dedupe(words: list[str]) -> list[str]:
    return list(dict.fromkeys(words))


def _limits(profile: str) -> dict[str, str]:
    a, b, c = PROFILES[profile]
    return {"A": a, "B": b, "C": c}


def build(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in rows:
        code = row["code"]
        base: dict[str, Any] = {
            "kind": "component" if row["kind"] == "管理部件" else "matter",
            "code": code,
            "major_code": row["major_code"],
            "major_name": row["major_name"],
            "name": row["name"],
        }
        if base["kind"] == "component":
            en, dept, _profile, kw = COMPONENTS[code]
            base |= {"name_en": en, "department": dept, "keywords": kw.split()}
        elif code in COMPONENTS:  # "<component>异常": the owner of the component acts
            en, dept, profile, kw = COMPONENTS[code]
            base |= {
                "name_en": f"{en} problem",
                "department": dept,
                "time_limits": _limits(profile),
                "verify_on_site": True,
                "keywords": _dedupe(kw.split() + _extra_keywords(row["name"])),
            }
        else:
            en, dept, profile, verify, kw = MATTERS[code]
            base |= {
                "name_en": en,
                "department": dept,
                "time_limits": _limits(profile),
                "verify_on_site": verify,
                "keywords": kw.split(),
            }
        out.append(base)
    return out


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else DEFAULT_CSV
    with src.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    entries = build(rows)
    kinds = [e["kind"] for e in entries]
    assert (kinds.count("component"), kinds.count("matter")) == (153, 250), "unexpected counts"
    unused = (set(COMPONENTS) | set(MATTERS)) - {e["code"] for e in entries}
    assert not unused, f"mapping codes not in the standard: {sorted(unused)}"
    body = yaml.safe_dump(
        {"standard": "GB/T 47678.5-2026", "entries": entries},
        allow_unicode=True,
        sort_keys=False,
        width=120,
        default_flow_style=None,
    )
    OUT.write_text(HEADER + body, encoding="utf-8")
    print(f"wrote {len(entries)} entries to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
