"""What the demo province is made of: Hainan's places, industries, parks, products and the
figures a footprint of each plausibly has.

Product categories are UN CPC Ver. 2.1 subclasses (``urn:pact:productclassification:
un-cpc:<code>``). Footprint ranges are kg CO2e per declared unit, cradle to gate, of the
order published life-cycle studies give for such products; they are drawn at random inside
the range, so they are *illustrative*, never a company's real figure. The companies are
invented: a name may coincide with a real firm's, none is one.
"""

from __future__ import annotations

import dataclasses
from typing import Final

CPC: Final = "urn:pact:productclassification:un-cpc:"

# Cities and counties of Hainan: (pinyin, Chinese, administrative division code of the
# unified social credit code's positions 3-8).
PLACES: Final = (
    ("Haikou", "海口", "460100"),
    ("Sanya", "三亚", "460200"),
    ("Danzhou", "儋州", "460400"),
    ("Wuzhishan", "五指山", "469001"),
    ("Qionghai", "琼海", "469002"),
    ("Wenchang", "文昌", "469005"),
    ("Wanning", "万宁", "469006"),
    ("Dongfang", "东方", "469007"),
    ("Ding'an", "定安", "469021"),
    ("Tunchang", "屯昌", "469022"),
    ("Chengmai", "澄迈", "469023"),
    ("Lingao", "临高", "469024"),
    ("Baisha", "白沙", "469025"),
    ("Changjiang", "昌江", "469026"),
    ("Ledong", "乐东", "469027"),
    ("Lingshui", "陵水", "469028"),
    ("Baoting", "保亭", "469029"),
    ("Qiongzhong", "琼中", "469030"),
)

# Trade names (字号) companies are given: (pinyin, Chinese).
TRADE_NAMES: Final = (
    ("Yelin", "椰林"),
    ("Haiyun", "海韵"),
    ("Nanguo", "南国"),
    ("Qiongxiang", "琼香"),
    ("Lüzhou", "绿洲"),
    ("Tianya", "天涯"),
    ("Jinhai", "金海"),
    ("Xinfeng", "鑫丰"),
    ("Hongyuan", "宏源"),
    ("Fuxing", "福兴"),
    ("Lanwan", "蓝湾"),
    ("Yuelu", "悦麓"),
    ("Shengtai", "盛泰"),
    ("Lianhe", "联合"),
    ("Huanan", "华南"),
    ("Baoli", "宝利"),
    ("Changsheng", "长盛"),
    ("Ruifeng", "瑞丰"),
    ("Haixin", "海鑫"),
    ("Nanhai", "南海"),
    ("Qiongyuan", "琼源"),
    ("Yedao", "椰岛"),
    ("Jiahe", "嘉禾"),
    ("Dongsheng", "东升"),
    ("Wanlü", "万绿"),
    ("Xinglong", "兴隆"),
    ("Shuangying", "双赢"),
    ("Hengtong", "恒通"),
    ("Anyuan", "安远"),
    ("Jinyu", "金屿"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class ProductKind:
    """A product a company of an industry makes, and the range of its footprint."""

    key: str
    name: str  # English and Chinese, as PACT's productNameCompany
    cpc: str  # UN CPC Ver. 2.1 subclass
    unit: str  # PACT declared unit
    amount: str  # declared unit amount
    mass_kg: str  # product mass per declared unit
    low: str  # fossil kg CO2e per declared unit, lowest and highest drawn
    high: str
    uptake: str = "0"  # biogenic CO2 uptake per declared unit (negative or zero)

    @property
    def category(self) -> str:
        return CPC + self.cpc


@dataclasses.dataclass(frozen=True, slots=True)
class Industry:
    key: str
    name: str
    weight: int  # how many companies of a hundred are of this industry
    kinds: tuple[tuple[str, str], ...]  # company kinds (English, Chinese), e.g. a plantation
    products: tuple[ProductKind, ...]
    places: tuple[str, ...]  # where such companies are (pinyin of PLACES)


INDUSTRIES: Final = (
    Industry(
        key="tropical-fruit",
        name="tropical fruit 热带水果",
        weight=24,
        kinds=(
            ("Fruit Industry Co., Ltd.", "果业有限公司"),
            ("Agricultural Development Co., Ltd.", "农业开发有限公司"),
            ("Fruit Growers' Cooperative", "水果种植专业合作社"),
        ),
        products=(
            ProductKind(
                "mango",
                "Mango, Tainong 台农芒果",
                "01316",
                "kilogram",
                "1",
                "1",
                "0.22",
                "0.55",
                "-0.30",
            ),
            ProductKind(
                "banana", "Banana 香蕉", "01312", "kilogram", "1", "1", "0.18", "0.45", "-0.20"
            ),
            ProductKind(
                "pineapple",
                "Pineapple 菠萝",
                "01318",
                "kilogram",
                "1",
                "1",
                "0.15",
                "0.40",
                "-0.18",
            ),
            ProductKind(
                "papaya", "Papaya 木瓜", "01317", "kilogram", "1", "1", "0.20", "0.48", "-0.20"
            ),
            ProductKind(
                "lychee",
                "Lychee, Feizixiao 妃子笑荔枝",
                "01319",
                "kilogram",
                "1",
                "1",
                "0.40",
                "0.90",
                "-0.25",
            ),
            ProductKind(
                "dried-mango",
                "Dried mango slices 芒果干",
                "21499",
                "kilogram",
                "1",
                "1",
                "2.0",
                "4.5",
            ),
        ),
        places=("Sanya", "Ledong", "Lingshui", "Dongfang", "Changjiang", "Baoting", "Chengmai"),
    ),
    Industry(
        key="coconut",
        name="coconut 椰子",
        weight=16,
        kinds=(
            ("Coconut Industry Co., Ltd.", "椰子产业有限公司"),
            ("Coconut Farmers' Cooperative", "椰子种植专业合作社"),
            ("Coconut Food Co., Ltd.", "椰子食品有限公司"),
        ),
        products=(
            ProductKind(
                "coconut",
                "Fresh green coconut 青椰",
                "01460",
                "kilogram",
                "1",
                "1",
                "0.12",
                "0.35",
                "-0.40",
            ),
            ProductKind(
                "coconut-water",
                "Coconut water 椰子水",
                "24490",
                "liter",
                "1",
                "1.05",
                "0.30",
                "0.70",
                "-0.10",
            ),
            ProductKind(
                "coconut-chips", "Coconut chips 椰子片", "21499", "kilogram", "1", "1", "1.8", "3.5"
            ),
        ),
        places=("Wenchang", "Qionghai", "Wanning", "Haikou"),
    ),
    Industry(
        key="tea",
        name="tea 茶叶",
        weight=10,
        kinds=(
            ("Tea Industry Co., Ltd.", "茶业有限公司"),
            ("Tea Plantation Co., Ltd.", "茶场有限公司"),
        ),
        products=(
            ProductKind(
                "tea-leaves",
                "Fresh tea leaves 茶鲜叶",
                "01620",
                "kilogram",
                "1",
                "1",
                "0.60",
                "1.40",
                "-0.50",
            ),
            ProductKind(
                "green-tea",
                "Green tea, Baisha 白沙绿茶",
                "23913",
                "kilogram",
                "1",
                "1",
                "4.0",
                "11.0",
            ),
            ProductKind(
                "black-tea",
                "Black tea, Wuzhishan 五指山红茶",
                "23913",
                "kilogram",
                "1",
                "1",
                "4.5",
                "12.0",
            ),
        ),
        places=("Baisha", "Wuzhishan", "Qiongzhong", "Baoting", "Tunchang"),
    ),
    Industry(
        key="rubber",
        name="natural rubber 天然橡胶",
        weight=10,
        kinds=(
            ("Rubber Co., Ltd.", "橡胶有限公司"),
            ("Rubber Plantation Co., Ltd.", "橡胶种植有限公司"),
        ),
        products=(
            ProductKind(
                "rubber",
                "Natural rubber, standard SCR 10 标准胶",
                "01950",
                "kilogram",
                "1",
                "1",
                "0.80",
                "2.20",
            ),
            ProductKind(
                "latex",
                "Concentrated latex 浓缩胶乳",
                "01950",
                "kilogram",
                "1",
                "1",
                "0.60",
                "1.60",
            ),
        ),
        places=("Danzhou", "Baisha", "Qiongzhong", "Tunchang", "Ding'an", "Chengmai"),
    ),
    Industry(
        key="seafood",
        name="seafood 水产",
        weight=14,
        kinds=(
            ("Aquatic Products Co., Ltd.", "水产有限公司"),
            ("Marine Fisheries Co., Ltd.", "海洋渔业有限公司"),
            ("Aquaculture Cooperative", "水产养殖专业合作社"),
        ),
        products=(
            ProductKind(
                "shrimp",
                "Farmed whiteleg shrimp 南美白对虾",
                "04362",
                "kilogram",
                "1",
                "1",
                "6.0",
                "14.0",
            ),
            ProductKind(
                "cooked-shrimp",
                "Cooked frozen shrimp 熟冻虾",
                "21270",
                "kilogram",
                "1",
                "1",
                "9.0",
                "18.0",
            ),
            ProductKind(
                "squid", "Frozen squid 冻鱿鱼", "21261", "kilogram", "1", "1", "2.5", "6.0"
            ),
        ),
        places=("Lingao", "Wenchang", "Qionghai", "Danzhou", "Lingshui", "Sanya"),
    ),
    Industry(
        key="tourism-goods",
        name="tourism goods 旅游商品",
        weight=14,
        kinds=(
            ("Tourism Products Co., Ltd.", "旅游商品有限公司"),
            ("Specialty Foods Co., Ltd.", "特产食品有限公司"),
        ),
        products=(
            ProductKind(
                "coffee",
                "Roasted coffee, Xinglong 兴隆咖啡",
                "23911",
                "kilogram",
                "1",
                "1",
                "6.0",
                "14.0",
            ),
            ProductKind(
                "white-pepper", "White pepper 白胡椒", "01651", "kilogram", "1", "1", "1.0", "3.0"
            ),
            ProductKind(
                "gift-mango",
                "Dried mango gift box 芒果干礼盒",
                "21499",
                "kilogram",
                "1",
                "1",
                "2.5",
                "5.0",
            ),
        ),
        places=("Wanning", "Haikou", "Sanya", "Qionghai"),
    ),
    Industry(
        key="petrochemicals",
        name="petrochemicals 石油化工",
        weight=12,
        kinds=(
            ("Petrochemical Co., Ltd.", "石化有限公司"),
            ("New Materials Co., Ltd.", "新材料有限公司"),
        ),
        products=(
            ProductKind(
                "polyethylene",
                "Polyethylene resin 聚乙烯树脂",
                "34710",
                "kilogram",
                "1000",
                "1000",
                "1600",
                "2300",
            ),
            ProductKind(
                "pet-chips",
                "PET bottle-grade chips 瓶级聚酯切片",
                "34740",
                "kilogram",
                "1000",
                "1000",
                "2100",
                "3000",
            ),
        ),
        places=("Danzhou", "Dongfang", "Chengmai", "Lingao"),
    ),
)

# Industrial parks (sites of kind "park"), each run by a management company of its own:
# (English, Chinese, place, the industries whose factories it gathers).
PARKS: Final = (
    (
        "Yangpu Economic Development Zone",
        "洋浦经济开发区",
        "Danzhou",
        ("petrochemicals", "rubber", "seafood"),
    ),
    (
        "Haikou National High-tech Industrial Development Zone",
        "海口国家高新技术产业开发区",
        "Haikou",
        ("coconut", "tourism-goods", "tea"),
    ),
    (
        "Dongfang Lingang Industrial Park",
        "东方临港产业园",
        "Dongfang",
        ("petrochemicals", "tropical-fruit"),
    ),
    (
        "Laocheng Economic Development Zone",
        "老城经济开发区",
        "Chengmai",
        ("tropical-fruit", "rubber", "tea"),
    ),
    ("Wenchang International Aerospace City", "文昌国际航天城", "Wenchang", ("coconut", "seafood")),
    (
        "Sanya Yazhou Bay Science and Technology City",
        "三亚崖州湾科技城",
        "Sanya",
        ("tropical-fruit", "seafood", "tourism-goods"),
    ),
)

# Certification bodies besides the demo story's certification centre.
BODIES: Final = (
    (
        "China Quality Certification Centre, Hainan Branch 中国质量认证中心海南分中心",
        "12460000MB1D00011",
    ),
    (
        "Hainan Institute of Product Quality Supervision and Testing 海南省产品质量监督检验所",
        "12460000MB1D00012",
    ),
)

# Partner programmes of mutual recognition: (name, country, operator, language, agreement
# text in the partner's language, the products whose records it has recognised here).
PARTNERS: Final = (
    (
        "Thailand Carbon Footprint of Products Programme",
        "TH",
        "Thailand Greenhouse Gas Management Organization",
        "th",
        "ทั้งสองฝ่ายยอมรับคาร์บอนฟุตพริ้นท์ของผลิตภัณฑ์ที่ลงนามแล้วของอีกฝ่าย",
        ("coconut", "coconut-water", "mango", "rubber"),
    ),
    (
        "Lao PDR Product Carbon Footprint Programme",
        "LA",
        "Ministry of Natural Resources and Environment",
        "lo",
        "ທັງສອງຝ່າຍຮັບຮູ້ຮອຍຕີນກາກບອນຂອງຜະລິດຕະພັນທີ່ລົງນາມແລ້ວຂອງກັນແລະກັນ",
        ("banana", "rubber"),
    ),
    (
        "Viet Nam Low Carbon Product Programme",
        "VN",
        "Ministry of Natural Resources and Environment",
        "vi",
        "Hai bên công nhận dấu chân carbon sản phẩm đã ký của nhau",
        ("shrimp", "coffee", "white-pepper"),
    ),
)

# Products the chain-owners make from their suppliers' products and their own activity:
# (key, name, CPC, unit, amount, the industry whose suppliers it buys from, bill of
# materials per declared unit: supplier lines (product key, kg) and factor lines
# (category, label, quantity, unit, factor code)).
ASSEMBLIES: Final = (
    (
        "coconut-water-1l",
        "Coconut water, PET bottle 1 L 椰子水 1 升装",
        "24490",
        "liter",
        "1",
        "coconut",
        (("coconut", "2.6"),),
        (
            ("packaging", "PET bottle", "0.032", "kg", "desnz.material.pet.2025"),
            ("electricity", "bottling line", "0.15", "kWh", "cn.electricity.hainan.2023"),
            (
                "transport",
                "road freight to Haikou",
                "0.12",
                "t·km",
                "desnz.freight.hgv.average-laden.2025",
            ),
        ),
    ),
    (
        "green-tea-gift",
        "Green tea gift tin 绿茶礼盒",
        "23913",
        "kilogram",
        "1",
        "tea",
        (("tea-leaves", "4.5"),),
        (
            ("electricity", "withering and drying", "6.5", "kWh", "cn.electricity.hainan.2023"),
            ("packaging", "tin and carton", "0.35", "kg", "desnz.material.steel.2025"),
        ),
    ),
    (
        "dried-mango-pack",
        "Dried mango, retail pack 芒果干零售装",
        "21499",
        "kilogram",
        "1",
        "tropical-fruit",
        (("mango", "6.0"),),
        (
            ("electricity", "drying", "3.2", "kWh", "cn.electricity.hainan.2023"),
            ("fuel", "LPG for the dryer", "0.25", "kg", "cn.fuel.lpg.per-kg"),
            ("packaging", "carton", "0.08", "kg", "desnz.material.board.2025"),
        ),
    ),
    (
        "shrimp-export",
        "Cooked shrimp, export carton 出口熟虾",
        "21270",
        "kilogram",
        "1",
        "seafood",
        (("shrimp", "1.6"),),
        (
            ("electricity", "cooking and freezing", "2.8", "kWh", "cn.electricity.hainan.2023"),
            (
                "transport",
                "reefer ship to Singapore",
                "2.4",
                "t·km",
                "desnz.freight.refrigerated-cargo-ship.all.2025",
            ),
            ("packaging", "carton", "0.06", "kg", "desnz.material.board.2025"),
        ),
    ),
)

# Accounting rules on the provincial list (核算规则清单): (code, title, UN CPC subclass,
# declared unit, system boundary). Categories without one are asked for in the demand
# catalogue (需求目录) instead.
RULES: Final = (
    (
        "HN-PCR-TEA-2025",
        "茶叶产品碳足迹核算规则 Product category rule: tea",
        "23913",
        "kilogram",
        "cradle-to-gate",
    ),
    (
        "HN-PCR-COCONUT-2025",
        "椰子产品碳足迹核算规则 Product category rule: coconuts",
        "01460",
        "kilogram",
        "cradle-to-gate",
    ),
    (
        "HN-PCR-SHRIMP-2025",
        "养殖对虾碳足迹核算规则 Product category rule: farmed shrimp",
        "04362",
        "kilogram",
        "cradle-to-gate",
    ),
    (
        "HN-PCR-RUBBER-2025",
        "天然橡胶碳足迹核算规则 Product category rule: natural rubber",
        "01950",
        "kilogram",
        "cradle-to-gate",
    ),
    (
        "HN-PCR-PE-2025",
        "聚乙烯树脂碳足迹核算规则 Product category rule: polyethylene",
        "34710",
        "kilogram",
        "cradle-to-gate",
    ),
)
DEMANDS: Final = (
    ("芒果 Mangoes", "01316"),
    ("咖啡 Roasted coffee", "23911"),
    ("胡椒 Pepper", "01651"),
    ("熟冻虾 Prepared crustaceans", "21270"),
)
