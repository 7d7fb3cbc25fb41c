"""What people call the codes the exchange stores: product categories (classification URNs
such as ``urn:pact:productclassification:un-cpc:2449``), regions (ISO 3166 codes such as
``CN-HI``), and footprint figures rounded as on the printed label. Pure.

A category or region the tables below do not name is still shown readably (``UN CPC 2449``,
``Dragon fruit`` from ``...:hainan:dragon-fruit``), never as the raw URN.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from exchange.labels.claims import round_value

# ISO 3166-2:CN subdivisions (the codes the standard publishes) and a few trading countries.
REGIONS: Final[dict[str, tuple[str, str]]] = {
    "cn": ("China", "中国"),
    "cn-ah": ("Anhui", "安徽"),
    "cn-bj": ("Beijing", "北京"),
    "cn-cq": ("Chongqing", "重庆"),
    "cn-fj": ("Fujian", "福建"),
    "cn-gd": ("Guangdong", "广东"),
    "cn-gs": ("Gansu", "甘肃"),
    "cn-gx": ("Guangxi", "广西"),
    "cn-gz": ("Guizhou", "贵州"),
    "cn-ha": ("Henan", "河南"),
    "cn-hb": ("Hubei", "湖北"),
    "cn-he": ("Hebei", "河北"),
    "cn-hi": ("Hainan", "海南"),
    "cn-hk": ("Hong Kong", "香港"),
    "cn-hl": ("Heilongjiang", "黑龙江"),
    "cn-hn": ("Hunan", "湖南"),
    "cn-jl": ("Jilin", "吉林"),
    "cn-js": ("Jiangsu", "江苏"),
    "cn-jx": ("Jiangxi", "江西"),
    "cn-ln": ("Liaoning", "辽宁"),
    "cn-mo": ("Macao", "澳门"),
    "cn-nm": ("Inner Mongolia", "内蒙古"),
    "cn-nx": ("Ningxia", "宁夏"),
    "cn-qh": ("Qinghai", "青海"),
    "cn-sc": ("Sichuan", "四川"),
    "cn-sd": ("Shandong", "山东"),
    "cn-sh": ("Shanghai", "上海"),
    "cn-sn": ("Shaanxi", "陕西"),
    "cn-sx": ("Shanxi", "山西"),
    "cn-tj": ("Tianjin", "天津"),
    "cn-tw": ("Taiwan", "台湾"),
    "cn-xj": ("Xinjiang", "新疆"),
    "cn-xz": ("Xizang", "西藏"),
    "cn-yn": ("Yunnan", "云南"),
    "cn-zj": ("Zhejiang", "浙江"),
    "de": ("Germany", "德国"),
    "fr": ("France", "法国"),
    "gb": ("United Kingdom", "英国"),
    "id": ("Indonesia", "印度尼西亚"),
    "jp": ("Japan", "日本"),
    "kr": ("Korea", "韩国"),
    "la": ("Laos", "老挝"),
    "my": ("Malaysia", "马来西亚"),
    "nl": ("Netherlands", "荷兰"),
    "sg": ("Singapore", "新加坡"),
    "th": ("Thailand", "泰国"),
    "us": ("United States", "美国"),
    "vn": ("Viet Nam", "越南"),
}

# UN CPC Ver. 2.1 classes and subclasses the demo, the demo province and the tests use, by a
# short form of the classification's own title; any other code shows as "UN CPC <code>".
CPC: Final[dict[str, tuple[str, str]]] = {
    "2449": ("Other non-alcoholic beverages", "其他无酒精饮料"),
    "24490": ("Other non-alcoholic beverages", "其他无酒精饮料"),
    "01312": ("Bananas", "香蕉"),
    "01316": ("Mangoes, guavas and mangosteens", "芒果、番石榴和山竹"),
    "01317": ("Papayas", "木瓜"),
    "01318": ("Pineapples", "菠萝"),
    "01319": ("Other tropical fruits", "其他热带水果"),
    "01460": ("Coconuts", "椰子"),
    "01620": ("Tea leaves", "茶叶"),
    "01651": ("Pepper", "胡椒"),
    "01950": ("Natural rubber", "天然橡胶"),
    "04362": ("Shrimps and prawns", "虾"),
    "21261": ("Frozen fish and seafood", "冷冻鱼类和海产品"),
    "21270": ("Prepared crustaceans", "加工甲壳类"),
    "21499": ("Prepared fruit and nuts", "加工水果和坚果"),
    "23911": ("Roasted coffee", "焙炒咖啡"),
    "23913": ("Tea", "茶"),
    "34710": ("Polyethylene", "聚乙烯"),
    "34740": ("Polyesters", "聚酯"),
}

# The programme's own Hainan categories (urn:pact:productclassification:hainan:<slug>).
HAINAN: Final[dict[str, tuple[str, str]]] = {
    "tea": ("Tea", "茶叶"),
    "coffee": ("Coffee", "咖啡"),
    "coconut": ("Coconut products", "椰子制品"),
    "coconut-water": ("Coconut water", "椰子水"),
    "tropical-fruit": ("Tropical fruit", "热带水果"),
    "mango": ("Mango", "芒果"),
    "pineapple": ("Pineapple", "菠萝"),
    "banana": ("Banana", "香蕉"),
    "lychee": ("Lychee", "荔枝"),
    "rubber": ("Natural rubber", "天然橡胶"),
    "seafood": ("Seafood", "水产品"),
    "pepper": ("Pepper", "胡椒"),
    "tourism-goods": ("Tourism goods", "旅游商品"),
    "petrochemicals": ("Petrochemical products", "石化产品"),
    "packaging": ("Packaging", "包装"),
}

_ISO_CODE: Final = re.compile(r"[a-z]{2}(-[a-z0-9]{1,3})?")
_CLASSIFICATION_PREFIX: Final = "urn:pact:productclassification:"


def _pick(pair: tuple[str, str], language: str) -> str:
    return pair[1] if language == "zh" else pair[0]


def _humane(slug: str) -> str:
    text = slug.replace("-", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else slug


def category_name(urn: str, language: str) -> str:
    """A product category as people call it, in ``language`` ("zh" or "en")."""
    lowered = urn.strip().lower()
    if lowered.startswith(_CLASSIFICATION_PREFIX):
        scheme, _, code = lowered[len(_CLASSIFICATION_PREFIX) :].partition(":")
        if scheme == "un-cpc" and code:
            named = CPC.get(code)
            return _pick(named, language) if named else f"UN CPC {code}"
        if scheme == "hainan" and code:
            named = HAINAN.get(code)
            return _pick(named, language) if named else _humane(code)
        if scheme == "cas" and code:
            return f"CAS {code}"
        if code:
            return f"{scheme.upper()} {code}"
    # Some other URN or a bare code: its last part, readable.
    return _humane(urn.rsplit(":", 1)[-1]) or urn


def region_name(code: str, language: str) -> str:
    """A region (ISO 3166 country or subdivision code, any case) as people call it."""
    lowered = code.strip().lower()
    named = REGIONS.get(lowered)
    if named:
        return _pick(named, language)
    # An ISO code the table lacks, written as the standard writes it; a name ("Europe") as is.
    return code.upper() if _ISO_CODE.fullmatch(lowered) else code


def product_code(urn: str) -> str:
    """A product id as printed on packs: ``urn:gtin:0950...`` is "GTIN 0950..."."""
    if urn.lower().startswith("urn:gtin:"):
        return f"GTIN {urn[len('urn:gtin:') :]}"
    return urn


def figure(value: Decimal | int | str) -> str:
    """A footprint as the label prints it (labels.claims.round_value: 4 significant digits,
    trailing zeros dropped), written without an exponent: the registry, product pages and
    charts show the number a person finds on the label."""
    rounded = round_value(Decimal(value))
    text = format(rounded, "f")
    return "0" if text == "-0" else text
