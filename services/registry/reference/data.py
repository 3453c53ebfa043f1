"""Seed reference data for Binjiang district (杭州市滨江区): its three streets and their communities.

Names are realistic seed data for the district (SPEC §4 allows fictional ones); codes are stable and
ids are derived from them with :func:`uuid.uuid5` under :data:`NAMESPACE`, so every fresh install
has the same street and community ids. Never renumber or reuse a code: add new ones at the end.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

NAMESPACE = uuid.UUID("6f0c7f4e-2b1d-4f38-9a57-5d1e0c3b7a10")


@dataclass(frozen=True)
class CommunitySeed:
    """社区: ``code`` is the street code plus a two-digit number (``XX01``)."""

    code: str
    name: str
    name_en: str

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, self.code)


@dataclass(frozen=True)
class StreetSeed:
    """街道 with its communities."""

    code: str
    name: str
    name_en: str
    communities: list[CommunitySeed] = field(default_factory=list, hash=False)

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, self.code)


STREETS: list[StreetSeed] = [
    StreetSeed(
        code="XX",
        name="西兴街道",
        name_en="Xixing Street",
        communities=[
            CommunitySeed("XX01", "星民社区", "Xingmin Community"),
            CommunitySeed("XX02", "缤纷社区", "Binfen Community"),
            CommunitySeed("XX03", "东湖社区", "Donghu Community"),
            CommunitySeed("XX04", "铁岭花园社区", "Tieling Huayuan Community"),
            CommunitySeed("XX05", "官河社区", "Guanhe Community"),
            CommunitySeed("XX06", "西陵社区", "Xiling Community"),
            CommunitySeed("XX07", "湘滨社区", "Xiangbin Community"),
            CommunitySeed("XX08", "联庄社区", "Lianzhuang Community"),
            CommunitySeed("XX09", "江一社区", "Jiangyi Community"),
            CommunitySeed("XX10", "月明社区", "Yueming Community"),
        ],
    ),
    StreetSeed(
        code="CH",
        name="长河街道",
        name_en="Changhe Street",
        communities=[
            CommunitySeed("CH01", "长河社区", "Changhe Community"),
            CommunitySeed("CH02", "山一社区", "Shanyi Community"),
            CommunitySeed("CH03", "山二社区", "Shan'er Community"),
            CommunitySeed("CH04", "塘子堰社区", "Tangziyan Community"),
            CommunitySeed("CH05", "槐树社区", "Huaishu Community"),
            CommunitySeed("CH06", "汤家井社区", "Tangjiajing Community"),
            CommunitySeed("CH07", "白金海岸社区", "Baijin Haian Community"),
            CommunitySeed("CH08", "长江社区", "Changjiang Community"),
            CommunitySeed("CH09", "岩峰社区", "Yanfeng Community"),
            CommunitySeed("CH10", "美丽洲社区", "Meilizhou Community"),
        ],
    ),
    StreetSeed(
        code="PY",
        name="浦沿街道",
        name_en="Puyan Street",
        communities=[
            CommunitySeed("PY01", "浦沿社区", "Puyan Community"),
            CommunitySeed("PY02", "新浦社区", "Xinpu Community"),
            CommunitySeed("PY03", "东冠社区", "Dongguan Community"),
            CommunitySeed("PY04", "冠山社区", "Guanshan Community"),
            CommunitySeed("PY05", "六和社区", "Liuhe Community"),
            CommunitySeed("PY06", "浦联社区", "Pulian Community"),
            CommunitySeed("PY07", "闻涛社区", "Wentao Community"),
            CommunitySeed("PY08", "杨家墩社区", "Yangjiadun Community"),
            CommunitySeed("PY09", "东信社区", "Dongxin Community"),
            CommunitySeed("PY10", "伟业社区", "Weiye Community"),
        ],
    ),
]
