"""The demo administration: traders, brokers, foreign sellers and buyers, and a year of declarations.

Pure and reproducible: everything is drawn from one `random.Random(seed)`, so the same `(n, seed,
start, country)` gives byte-identical documents, times and ground truth. No database is touched;
`customhouse.demo.service` lodges what this module makes. This docstring is the documentation of the
demo data: later issues train and test on it, so every share below is a module constant.

Parties
    KR traders (`KR1000000001`...; about n/25 of them, 30 to 400): each imports, exports or both
    (70/15/15 %), specialises in one sector (sometimes two) and buys a catalogue of 4 to 20 HS 2022
    subheadings from 1 to 5 foreign sellers, with Zipf-like weights (a few big traders, a long tail).
    `AEO_SHARE` of them are authorised economic operators, `RISKY_IMPORTER_SHARE` are "risky".
    `BROKER_COUNT` brokers (`KR9000000001`...); `BROKERED_SHARE` of traders give one a mandate
    (valid from before the year, no end) and lodge 95 % of their declarations through it.
    Foreign sellers (`CN5000000001`...) and buyers (`US6000000001`...) are on documents only, not in
    the register (they never declare here); `RISKY_SELLER_SHARE` of sellers are "risky".

Declarations (`KIND_SHARES`)
    imports for home use (procedure 4000), exports (1000; the exporter is a KR trader, an office of
    exit is named) and transits (procedure 8000, the demo's stand-in; from a port to another KR
    office, mostly inland). 1 to 5 goods items. Lodgement times are timezone-aware UTC, drawn over
    365 local (KST) days from `start`: `WEEKDAY_WEIGHTS` (few on weekends), a mild yearly wave, a
    pre-Christmas import bump (15 Oct - 30 Nov), public holidays at `HOLIDAY_WEIGHT`, and Seollal and
    Chuseok (2020-2035) with a run-up of `HOLIDAY_RUN_UP_DAYS` days rising to `1 + HOLIDAY_PEAK`
    before the three holiday days. Office hours in local time.

Goods and prices
    Every subheading of the sector chapters has a reference unit price in USD per its unit
    (`DemoWorld.products`, log-uniform within its chapter's range), a net mass per unit and a demo
    duty rate drawn from its chapter's rates (a stand-in until the tariff domain arrives). Honest unit
    prices spread around the reference by `PRICE_SPREAD` (sigma of the log) and the seller's price
    level; invoices are in the seller's currency at the fixed `FX_PER_USD`. Items of a declaration
    add up exactly to the invoice total.

Irregularities (import declarations only; `Truth` carries the honest values as corrections)
    `IRREGULARITY_SHARES` of import declarations, at most one kind per declaration:
    - undervaluation: every item's price times a factor in `UNDERVALUATION_RANGE` (a low unit
      value against the reference); corrections: each item's price and the invoice total;
    - misclassification: one item declared under a sibling subheading (same heading) with a lower
      duty rate and that code's description; the price and mass stay those of the true goods;
      corrections: hs_code and description;
    - false origin: goods of a non-preferential origin (`FALSE_ORIGIN_COVER`: CN, JP, TW, and CN
      goods sold from HK) declared as originating in a preferential neighbour, claiming preference
      300 with a certificate; corrections: origin and preference "100".
    The chance scales with the importer (`RISKY_IMPORTER_FACTOR`, `AEO_FACTOR`) and the seller
    (`RISKY_SELLER_FACTOR`), normalised over the expected import traffic so that the overall shares
    stay the documented ones.

Supporting documents and lanes
    Invoice 380; transport document by mode (705 sea, 740 air with a valid AWB check digit, 730
    road); proof of origin (861 certificate, or 862 declaration of origin from the US, Europe, Chile,
    Canada and New Zealand) when an item claims preference 300 (`PREFERENCE_CLAIM_SHARE` of
    declarations whose origin is in `PREFERENTIAL_ORIGINS`, the demo's stand-in for FTAs in force);
    sometimes a packing list 271, SPS certificates for food, a banker's guarantee 430 on transits.
    `MISSING_DOCUMENT_SHARE` of all declarations lack one required document (`Truth.missing_document`),
    so the default selectivity rule sends exactly those to the yellow lane.
    `PRE_ARRIVAL_SHARE` of sea imports are pre-lodged (accepted by an officer on arrival).
    Containers carry valid ISO 6346 check digits, vessels valid IMO numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from customhouse.reference import codes
from customhouse.reference.iso6346 import check_digit

T = TypeVar("T")

IMPORT, EXPORT, TRANSIT = "import", "export", "transit"
KIND_SHARES: dict[str, float] = {IMPORT: 0.80, EXPORT: 0.15, TRANSIT: 0.05}

UNDERVALUATION, MISCLASSIFICATION, FALSE_ORIGIN = "undervaluation", "misclassification", "false_origin"
IRREGULARITY_SHARES: dict[str, float] = {UNDERVALUATION: 0.06, MISCLASSIFICATION: 0.03, FALSE_ORIGIN: 0.02}
MISSING_DOCUMENT_SHARE = 0.08  # of all declarations: one required document left out (yellow lane)

RISKY_IMPORTER_SHARE = 0.10
RISKY_IMPORTER_FACTOR = 4.0
RISKY_SELLER_SHARE = 0.08
RISKY_SELLER_FACTOR = 2.5
AEO_SHARE = 0.15  # of traders; never risky
AEO_FACTOR = 0.25

# What traders do: (weight of their imports, weight of their exports, share of traders).
ACTIVITIES = {"import": (1.0, 0.0, 0.70), "both": (0.8, 0.5, 0.15), "export": (0.0, 1.0, 0.15)}
BROKER_COUNT = 12
BROKERED_SHARE = 0.60  # of traders
BROKER_USE = 0.95  # of a brokered trader's declarations
PRE_ARRIVAL_SHARE = 0.06  # of sea imports
PREFERENCE_CLAIM_SHARE = 0.70
UNDERVALUATION_RANGE = (0.35, 0.70)
PRICE_SPREAD = 0.12

WEEKDAY_WEIGHTS = (1.0, 1.05, 1.05, 1.0, 0.9, 0.25, 0.08)  # Monday first
HOLIDAY_RUN_UP_DAYS = 21
HOLIDAY_PEAK = 0.6
HOLIDAY_WEIGHT = 0.1
PUBLIC_HOLIDAY_WEIGHT = 0.2
LOCAL_HOURS = (  # share of lodgements per local hour, 0h to 23h
    0.03, 0.02, 0.02, 0.02, 0.02, 0.03, 0.08, 0.3, 0.7, 1.0, 1.0, 1.0,
    0.6, 0.95, 1.0, 1.0, 0.95, 0.8, 0.5, 0.25, 0.15, 0.1, 0.06, 0.04,
)  # fmt: skip
UTC_OFFSET_HOURS = {"KR": 9, "JP": 9, "CN": 8, "KE": 3, "UG": 3, "TZ": 3, "RW": 2, "NL": 1, "DE": 1, "SG": 8}

# Lunar holidays of Korea, 2020-2035: Seollal and Chuseok, each with the day before and after off.
SEOLLAL = (
    date(2020, 1, 25), date(2021, 2, 12), date(2022, 2, 1), date(2023, 1, 22), date(2024, 2, 10),
    date(2025, 1, 29), date(2026, 2, 17), date(2027, 2, 7), date(2028, 1, 27), date(2029, 2, 13),
    date(2030, 2, 3), date(2031, 1, 23), date(2032, 2, 11), date(2033, 1, 31), date(2034, 2, 19),
    date(2035, 2, 8),
)  # fmt: skip
CHUSEOK = (
    date(2020, 10, 1), date(2021, 9, 21), date(2022, 9, 10), date(2023, 9, 29), date(2024, 9, 17),
    date(2025, 10, 6), date(2026, 9, 25), date(2027, 9, 15), date(2028, 10, 3), date(2029, 9, 22),
    date(2030, 9, 12), date(2031, 10, 1), date(2032, 9, 19), date(2033, 9, 8), date(2034, 9, 27),
    date(2035, 9, 16),
)  # fmt: skip
PUBLIC_HOLIDAYS = ((1, 1), (3, 1), (5, 5), (6, 6), (8, 15), (10, 3), (10, 9), (12, 25))  # month, day

FX_PER_USD: dict[str, Decimal] = {  # fixed demo rates
    "USD": Decimal(1), "EUR": Decimal("0.92"), "JPY": Decimal(150), "CNY": Decimal("7.2"),
    "GBP": Decimal("0.79"), "AUD": Decimal("1.52"), "KRW": Decimal(1350),
}  # fmt: skip

PREFERENTIAL_ORIGINS = frozenset({
    "US", "VN", "DE", "FR", "IT", "NL", "ES", "AU", "SG", "MY", "TH", "ID", "IN", "CL", "CA", "GB", "NZ", "PH"
})  # fmt: skip
ORIGIN_DECLARATION_COUNTRIES = frozenset({"US", "DE", "FR", "IT", "NL", "ES", "GB", "CL", "CA", "NZ"})
FALSE_ORIGIN_COVER = {"CN": "VN", "JP": "TH", "TW": "MY"}  # true origin -> the preferential origin declared
ENTREPOTS = {"HK": "CN", "SG": "MY"}  # sellers trading mostly goods of another origin

# Where KR's imports come from, and where its exports go (rough weights).
SELLER_COUNTRIES = {
    "CN": 30, "US": 12, "JP": 9, "VN": 6, "DE": 5, "TW": 5, "AU": 4, "IT": 2, "FR": 2, "MY": 2, "ID": 2,
    "IN": 2, "TH": 2, "SG": 2, "HK": 2, "NL": 1, "GB": 1, "CA": 1, "CL": 1, "ES": 1, "PH": 1, "NZ": 1,
}  # fmt: skip
BUYER_COUNTRIES = {
    "CN": 22, "US": 16, "VN": 9, "JP": 5, "HK": 5, "TW": 4, "SG": 3, "IN": 3, "DE": 3, "AU": 2, "MX": 2,
    "MY": 2, "ID": 2, "TH": 2, "PH": 1, "GB": 1, "CA": 1, "NL": 1,
}  # fmt: skip
CURRENCIES = {
    "US": "USD", "JP": "JPY", "CN": "CNY", "GB": "GBP", "AU": "AUD",
    "DE": "EUR", "FR": "EUR", "IT": "EUR", "NL": "EUR", "ES": "EUR",
}  # fmt: skip
CITIES = {
    "CN": ("Shanghai", "Shenzhen", "Ningbo", "Qingdao", "Guangzhou", "Tianjin", "Xiamen"),
    "US": ("Los Angeles", "Seattle", "Houston", "New York", "Chicago"),
    "JP": ("Tokyo", "Osaka", "Nagoya", "Kobe"), "VN": ("Ho Chi Minh City", "Hai Phong", "Da Nang"),
    "DE": ("Hamburg", "Munich", "Stuttgart", "Bremen"), "TW": ("Kaohsiung", "Taipei", "Taichung"),
    "AU": ("Melbourne", "Sydney", "Brisbane"), "IT": ("Milan", "Genoa"),
    "FR": ("Le Havre", "Lyon", "Marseille"),
    "MY": ("Port Klang", "Penang"), "ID": ("Jakarta", "Surabaya"), "IN": ("Mumbai", "Chennai"),
    "TH": ("Bangkok", "Laem Chabang"), "SG": ("Singapore",), "HK": ("Hong Kong",), "NL": ("Rotterdam",),
    "GB": ("Felixstowe", "London"), "CA": ("Vancouver",), "CL": ("Valparaiso", "Santiago"),
    "ES": ("Valencia", "Barcelona"), "PH": ("Manila",), "NZ": ("Auckland",), "MX": ("Manzanillo",),
}  # fmt: skip

INCOTERMS = {"FOB": 35, "CIF": 25, "CFR": 10, "FCA": 10, "EXW": 8, "DAP": 7, "CIP": 3, "DDP": 2}
# Offices of KR and their share of the traffic (other administrations: equal shares).
OFFICE_WEIGHTS = {
    "KR000040": 0.36, "KR000030": 0.20, "KR000020": 0.14, "KR000010": 0.11,
    "KR000050": 0.06, "KR000080": 0.05, "KR000060": 0.04, "KR000070": 0.04,
}  # fmt: skip
CONTAINER_OWNERS = ("MSC", "MAE", "HLX", "CMA", "CSQ", "OOL", "EGH", "HDM", "ONE", "YML", "SKL", "KMT")
CARRIERS = {
    "MAEU": "Maersk", "MSCU": "MSC", "HLCU": "Hapag-Lloyd", "ONEY": "Ocean Network Express",
    "HDMU": "HMM", "COSU": "COSCO Shipping", "EGLV": "Evergreen", "SKLU": "Sinokor",
}  # fmt: skip
AIRLINES = {
    "KE": "180",
    "OZ": "988",
    "CA": "999",
    "NH": "205",
    "JL": "131",
    "CX": "160",
    "SQ": "618",
    "LH": "020",
}


@dataclass(frozen=True, slots=True)
class Chapter:
    """How goods of one HS chapter are declared: unit, reference price range, mass per unit, duty rates."""

    unit: str
    price: tuple[float, float]  # USD per unit, log-uniform
    kg: tuple[float, float]  # net kg per unit
    duty: tuple[str, ...]  # percent
    package: str


_KG = (1.0, 1.0)
CHAPTERS: dict[str, Chapter] = {
    "02": Chapter("KGM", (3, 15), _KG, ("18", "22.5", "27", "40"), "CT"),
    "03": Chapter("KGM", (2, 25), _KG, ("10", "20"), "CT"),
    "04": Chapter("KGM", (2, 12), _KG, ("8", "20", "36"), "CT"),
    "07": Chapter("KGM", (0.5, 4), _KG, ("27", "30", "45"), "BG"),
    "08": Chapter("KGM", (1, 8), _KG, ("24", "30", "45"), "CT"),
    "09": Chapter("KGM", (2, 30), _KG, ("2", "8", "20"), "BG"),
    "16": Chapter("KGM", (2, 15), _KG, ("20", "30"), "CT"),
    "19": Chapter("KGM", (1.5, 10), _KG, ("8", "30"), "CT"),
    "20": Chapter("KGM", (1, 8), _KG, ("30", "45"), "CT"),
    "21": Chapter("KGM", (2, 20), _KG, ("8", "30"), "CT"),
    "22": Chapter("LTR", (0.8, 40), (0.95, 1.3), ("15", "20", "30"), "CT"),
    "28": Chapter("KGM", (0.3, 20), _KG, ("3", "5.5", "6.5"), "DR"),
    "29": Chapter("KGM", (1, 60), _KG, ("3", "5.5", "6.5", "8"), "DR"),
    "30": Chapter("KGM", (20, 800), _KG, ("0", "6.5", "8"), "CT"),
    "32": Chapter("KGM", (2, 30), _KG, ("6.5", "8"), "DR"),
    "33": Chapter("KGM", (5, 120), _KG, ("6.5", "8"), "CT"),
    "38": Chapter("KGM", (1, 40), _KG, ("6.5", "8"), "DR"),
    "39": Chapter("KGM", (1, 10), _KG, ("6.5", "8"), "BG"),
    "40": Chapter("KGM", (1.5, 12), _KG, ("8", "5"), "PK"),
    "42": Chapter("C62", (5, 300), (0.2, 2.5), ("8", "13"), "CT"),
    "52": Chapter("KGM", (2, 12), _KG, ("8", "10"), "PK"),
    "54": Chapter("KGM", (3, 15), _KG, ("8", "10"), "PK"),
    "55": Chapter("KGM", (2, 12), _KG, ("8", "10"), "PK"),
    "60": Chapter("KGM", (4, 20), _KG, ("10", "13"), "PK"),
    "61": Chapter("C62", (2, 60), (0.1, 0.8), ("13", "8"), "CT"),
    "62": Chapter("C62", (4, 120), (0.2, 1.5), ("13", "8"), "CT"),
    "64": Chapter("NPR", (5, 150), (0.4, 1.5), ("13", "8"), "CT"),
    "69": Chapter("C62", (1, 80), (0.3, 20), ("8", "0"), "CT"),
    "70": Chapter("KGM", (0.5, 10), _KG, ("8", "0"), "PX"),
    "72": Chapter("KGM", (0.5, 3), _KG, ("0", "3", "8"), "PX"),
    "73": Chapter("KGM", (1.5, 8), _KG, ("0", "8"), "PX"),
    "74": Chapter("KGM", (6, 12), _KG, ("3", "5"), "PX"),
    "76": Chapter("KGM", (2.5, 8), _KG, ("1", "8"), "PX"),
    "84": Chapter("C62", (50, 30000), (5, 2000), ("0", "8"), "CS"),
    "85": Chapter("C62", (3, 2000), (0.05, 50), ("0", "8"), "CT"),
    "87": Chapter("C62", (200, 40000), (10, 1800), ("0", "8"), "NE"),
    "90": Chapter("C62", (10, 20000), (0.1, 200), ("0", "8"), "CT"),
    "94": Chapter("C62", (10, 800), (2, 60), ("0", "8"), "PK"),
    "95": Chapter("C62", (2, 200), (0.1, 10), ("0", "8"), "CT"),
    "96": Chapter("C62", (0.5, 30), (0.01, 1), ("8",), "CT"),
}
PACKAGE_KG = {"CT": 15.0, "BG": 25.0, "DR": 200.0, "PK": 40.0, "PX": 800.0, "CS": 300.0, "NE": 1500.0}

SECTORS: dict[str, tuple[tuple[str, ...], float]] = {  # chapters, share of traders
    "electronics": (("85", "84", "90"), 0.20),
    "machinery": (("84", "87", "73"), 0.12),
    "apparel": (("61", "62", "64", "42"), 0.14),
    "textiles": (("52", "54", "55", "60"), 0.05),
    "food": (("02", "03", "04", "07", "08", "09", "16", "19", "20", "21"), 0.16),
    "beverages": (("22",), 0.04),
    "chemicals": (("28", "29", "32", "38", "39", "40"), 0.12),
    "health_beauty": (("30", "33"), 0.06),
    "metals": (("72", "74", "76"), 0.05),
    "household": (("94", "95", "96", "69", "70"), 0.06),
}
EXPORT_SECTORS = {
    "electronics": 30,
    "machinery": 25,
    "chemicals": 20,
    "metals": 10,
    "health_beauty": 10,
    "apparel": 5,
}
SPS_DOCUMENTS = {"02": "853", "03": "852", "04": "852", "16": "852", "07": "851", "08": "851", "09": "851"}

NAME_STEMS = (
    "Hanbit", "Daehan", "Seoyeon", "Mirae", "Hankuk", "Samil", "Dongbang", "Saehan", "Gukje", "Haneul",
    "Bada", "Taeyang", "Sejong", "Baekje", "Silla", "Gaya", "Cheongsol", "Narae", "Areum", "Jinju",
    "Gwangmyeong", "Sinseong", "Hwaseong", "Donghae", "Seohae", "Namsan", "Bukhan", "Hallasan", "Jiri",
    "Sorak", "Yeongsan", "Nakdong", "Geumgang", "Imjin", "Bomun", "Unha",
)  # fmt: skip
SECTOR_WORDS = {
    "electronics": "Electronics", "machinery": "Machinery", "apparel": "Fashion", "textiles": "Textiles",
    "food": "Foods", "beverages": "Beverages", "chemicals": "Chemical", "health_beauty": "Life Science",
    "metals": "Steel", "household": "Living",
}  # fmt: skip
SUFFIXES = ("Co., Ltd.", "Corp.", "Trading Co.", "Inc.", "Industries")
FOREIGN_STEMS = (
    "Bright", "Golden", "Pacific", "Orient", "Summit", "Harbor", "Evergreen", "Silverline", "Apex", "Crown",
    "Delta", "Horizon", "Lotus", "Meridian", "Northstar", "Pioneer", "Royal", "Sunrise",
)  # fmt: skip
BROKER_NAMES = (
    "Busan Customs Brokers", "Incheon Customs Service", "Hanil Customs Agency", "Korea Trade Clearance",
    "Seoul Customs Partners", "Gyeongnam Customs Brokerage", "Jeil Customs Service", "Daesung Customs",
    "Ocean Customs Agency", "Sky Clearance Korea", "Hanguk Customs Brokers", "Pyeongtaek Customs Agency",
    "Ulsan Customs Service", "Honam Customs Brokers",
)  # fmt: skip

MONEY = Decimal("0.01")
MASS = Decimal("0.001")


@dataclass(frozen=True, slots=True)
class DemoParty:
    """A party of the demo; `risky` and `aeo` are ground truth a risk model may learn."""

    id: str
    name: str
    country: str
    role: str  # "trader" or "broker" (registered, KR), "seller" or "buyer" (foreign, on documents only)
    aeo: bool = False
    risky: bool = False
    traffic: float = 0.0  # expected share of the declarations it declares, represents or sells into

    def on_document(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "country": self.country}


@dataclass(frozen=True, slots=True)
class DemoMandate:
    representative_id: str
    client_id: str
    valid_from: date


@dataclass(frozen=True, slots=True)
class DemoProduct:
    """An HS 2022 subheading as the demo trades it; `reference_price` is USD per `unit`."""

    hs_code: str
    description: str
    unit: str
    reference_price: Decimal
    kg_per_unit: float
    duty_rate: Decimal  # percent; a stand-in until the tariff domain arrives
    package: str
    alcohol_strength: Decimal | None = None  # % vol, for beverages and spirits (excise per l alc.)


@dataclass(frozen=True, slots=True)
class Truth:
    """What really happened: the irregularity, the items it touches and the honest values."""

    irregularity: str | None = None
    items: tuple[int, ...] = ()  # 0-based indexes of the goods items concerned
    corrections: tuple[tuple[str, str], ...] = ()  # (JSON pointer, honest value)
    missing_document: str | None = None  # the required document type left out


@dataclass(frozen=True, slots=True)
class DemoDeclaration:
    document: dict[str, Any]  # JSON types, as DeclarationDocument.model_validate takes it
    lodged_at: datetime
    truth: Truth


@dataclass(frozen=True, slots=True)
class _Trader:
    party: DemoParty
    imports: float
    exports: float
    broker: str | None
    office: str
    catalogue: tuple[str, ...]
    catalogue_weights: tuple[float, ...]
    sellers: tuple[int, ...]
    seller_weights: tuple[float, ...]
    buyers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Seller:
    party: DemoParty
    sector: str
    currency: str
    incoterm: str
    city: str
    price_level: float


@dataclass(frozen=True)
class DemoWorld:
    """The parties, mandates and products of one seed, and its declarations (generated on demand)."""

    seed: int
    count: int
    start: date
    country: str
    parties: tuple[DemoParty, ...]
    mandates: tuple[DemoMandate, ...]
    products: Mapping[str, DemoProduct]
    office_weights: Mapping[str, float]
    lodgement_times: tuple[datetime, ...]
    _traders: tuple[_Trader, ...]
    _sellers: tuple[_Seller, ...]
    _buyers: tuple[DemoParty, ...]
    _brokers: tuple[DemoParty, ...]
    _irregularity_base: Mapping[str, float]
    _lower_duty: Mapping[str, tuple[str, ...]]
    _state: tuple[Any, ...]

    def party(self, party_id: str) -> DemoParty:
        return next(party for party in self.parties if party.id == party_id)

    def declarations(self) -> Iterator[DemoDeclaration]:
        """The `count` declarations in lodgement order; each call yields the same ones afresh.

        Lazy, so that a seed of many thousands holds one document at a time.
        """
        rng = random.Random()
        rng.setstate(self._state)
        counters: dict[str, int] = {}
        for at in self.lodgement_times:
            kind = _pick(rng, KIND_SHARES)
            if kind == IMPORT:
                yield _import(self, rng, at, counters)
            elif kind == EXPORT:
                yield _export(self, rng, at, counters)
            else:
                yield _transit(self, rng, at, counters)


# ---------------------------------------------------------------- small helpers


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _choice(rng: random.Random, items: Sequence[T], weights: Sequence[float]) -> T:
    return rng.choices(items, weights=weights)[0]


def _money(value: Decimal) -> Decimal:
    return value.quantize(MONEY, rounding=ROUND_HALF_UP)


def _mass(value: float) -> Decimal:
    return max(MASS, Decimal(value).quantize(MASS, rounding=ROUND_HALF_UP))


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _zipf(count: int, exponent: float = 0.9) -> list[float]:
    return [1 / (rank + 1) ** exponent for rank in range(count)]


def _normalised(weights: Sequence[float]) -> list[float]:
    total = sum(weights)
    return [weight / total for weight in weights]


def _issued(at: datetime, rng: random.Random, low: int, high: int) -> str:
    """A document date `low` to `high` days before the lodgement's UTC date (never after it)."""
    return (at.date() - timedelta(days=rng.randint(low, high))).isoformat()


# ---------------------------------------------------------------- the world


def generate(n: int, seed: int, *, start: date, country: str = "KR") -> DemoWorld:
    """The demo world of `n` declarations lodged over the 365 days from `start`, reproducible from `seed`."""
    if n < 1:
        raise ValueError("n must be at least 1")
    offices = {code: office for code, office in codes.offices().items() if office.country == country}
    if len(offices) < 2:
        raise ValueError(f"the demo needs at least two customs offices of {country} in the office list")
    rng = random.Random(seed)
    office_weights = {code: OFFICE_WEIGHTS.get(code, 1.0 / len(offices)) for code in offices}
    products = _products(rng)
    lower_duty = _lower_duty(products)

    sellers = _sellers(rng, min(600, max(40, n // 15)), country)
    buyers = _buyers(rng, min(150, max(15, n // 60)), country)
    brokers = _brokers(rng, country)
    traders = _traders(
        rng,
        min(400, max(30, n // 25)),
        country,
        products,
        lower_duty,
        sellers,
        buyers,
        brokers,
        office_weights,
    )
    mandates = tuple(
        DemoMandate(trader.broker, trader.party.id, start - timedelta(days=rng.randint(60, 1500)))
        for trader in traders
        if trader.broker
    )
    traders, brokers, sellers = _with_traffic(traders, brokers, sellers)
    parties = (
        *(trader.party for trader in traders),
        *brokers,
        *(seller.party for seller in sellers),
        *buyers,
    )
    times = _lodgement_times(rng, n, start, country)
    return DemoWorld(
        seed=seed,
        count=n,
        start=start,
        country=country,
        parties=parties,
        mandates=mandates,
        products=products,
        office_weights=office_weights,
        lodgement_times=times,
        _traders=traders,
        _sellers=sellers,
        _buyers=buyers,
        _brokers=brokers,
        _irregularity_base=_irregularity_base(traders, sellers),
        _lower_duty=lower_duty,
        _state=rng.getstate(),
    )


def _products(rng: random.Random) -> dict[str, DemoProduct]:
    descriptions = codes.hs_descriptions()
    products = {}
    for hs in sorted(codes.hs_subheadings()):
        chapter = CHAPTERS.get(hs[:2])
        if chapter is None:
            continue
        price = _log_uniform(rng, *chapter.price)
        products[hs] = DemoProduct(
            hs_code=hs,
            description=_describe(descriptions[hs]),
            unit=chapter.unit,
            reference_price=Decimal(price).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
            kg_per_unit=1.0 if chapter.kg == _KG else _log_uniform(rng, *chapter.kg),
            duty_rate=Decimal(rng.choice(chapter.duty)),
            package=chapter.package,
            alcohol_strength=ALCOHOL_STRENGTH.get(hs[:4]),
        )
    return products


# A typical strength per heading (% vol): beer, wine, vermouth, cider, ethyl alcohol, spirits.
ALCOHOL_STRENGTH = {
    "2203": Decimal("5"),
    "2204": Decimal("12.5"),
    "2205": Decimal("16"),
    "2206": Decimal("6"),
    "2207": Decimal("96"),
    "2208": Decimal("40"),
}


def _describe(text: str) -> str:
    """A trader's description: the nomenclature's words, cut at a word boundary when long."""
    if len(text) <= 160:
        return text
    return text[:160].rsplit(" ", 1)[0].rstrip(",;") + "..."


def _lower_duty(products: Mapping[str, DemoProduct]) -> dict[str, tuple[str, ...]]:
    """For each subheading, its siblings (same heading) that carry a lower duty rate."""
    by_heading: dict[str, list[DemoProduct]] = {}
    for product in products.values():
        by_heading.setdefault(product.hs_code[:4], []).append(product)
    lower = {}
    for product in products.values():
        siblings = tuple(
            other.hs_code for other in by_heading[product.hs_code[:4]] if other.duty_rate < product.duty_rate
        )
        if siblings:
            lower[product.hs_code] = siblings
    return lower


def _company(
    rng: random.Random, used: set[str], stems: Sequence[str], middle: str, suffixes: Sequence[str]
) -> str:
    for _ in range(1000):
        name = f"{rng.choice(stems)} {middle} {rng.choice(suffixes)}"
        if name not in used:
            used.add(name)
            return name
    name = f"{rng.choice(stems)} {middle} {len(used)} {rng.choice(suffixes)}"
    used.add(name)
    return name


def _sellers(rng: random.Random, count: int, country: str) -> tuple[_Seller, ...]:
    countries = {code: weight for code, weight in SELLER_COUNTRIES.items() if code != country}
    sector_shares = {sector: share for sector, (_, share) in SECTORS.items()}
    used: set[str] = set()
    sellers = []
    for index in range(count):
        home = _pick(rng, countries)
        sector = _pick(rng, sector_shares)
        city = rng.choice(CITIES.get(home, ("Capital",)))
        suffixes = ("GmbH", "AG") if home == "DE" else ("Co., Ltd.", "Ltd.", "Inc.")
        name = _company(rng, used, (city, *FOREIGN_STEMS), SECTOR_WORDS[sector], suffixes)
        currency = CURRENCIES.get(home, "USD")
        if currency != "USD" and rng.random() < 0.3:
            currency = "USD"
        party = DemoParty(
            f"{home}{5000000001 + index}", name, home, "seller", risky=rng.random() < RISKY_SELLER_SHARE
        )
        incoterm = _pick(rng, INCOTERMS)
        sellers.append(_Seller(party, sector, currency, incoterm, city, math.exp(rng.gauss(0, 0.08))))
    return tuple(sellers)


def _buyers(rng: random.Random, count: int, country: str) -> tuple[DemoParty, ...]:
    countries = {code: weight for code, weight in BUYER_COUNTRIES.items() if code != country}
    used: set[str] = set()
    buyers = []
    for index in range(count):
        home = _pick(rng, countries)
        city = rng.choice(CITIES.get(home, ("Capital",)))
        trade = rng.choice(("Trading", "Distribution", "Import"))
        name = _company(rng, used, (city, *FOREIGN_STEMS), trade, ("Ltd.", "Inc.", "Co."))
        buyers.append(DemoParty(f"{home}{6000000001 + index}", name, home, "buyer"))
    return tuple(buyers)


def _brokers(rng: random.Random, country: str) -> tuple[DemoParty, ...]:
    names = rng.sample(BROKER_NAMES, BROKER_COUNT)
    return tuple(
        DemoParty(f"{country}{9000000001 + index}", name, country, "broker", aeo=rng.random() < 0.4)
        for index, name in enumerate(names)
    )


def _catalogue(
    rng: random.Random,
    sectors: Sequence[str],
    products: Mapping[str, DemoProduct],
    lower_duty: Mapping[str, tuple[str, ...]],
) -> tuple[str, ...]:
    """4 to 20 subheadings of the trader's sectors, at least one of which can be misclassified."""
    chapters = [chapter for sector in sectors for chapter in SECTORS[sector][0]]
    by_chapter = {chapter: [hs for hs in products if hs.startswith(chapter)] for chapter in chapters}
    size = rng.randint(4, 20)
    chosen: list[str] = []
    while len(chosen) < size:
        hs = rng.choice(by_chapter[rng.choice(chapters)])
        if hs not in chosen:
            chosen.append(hs)
    if not any(hs in lower_duty for hs in chosen):
        candidates = [hs for chapter in chapters for hs in by_chapter[chapter] if hs in lower_duty]
        chosen[rng.randrange(len(chosen))] = rng.choice(candidates)
    return tuple(chosen)


def _traders(
    rng: random.Random,
    count: int,
    country: str,
    products: Mapping[str, DemoProduct],
    lower_duty: Mapping[str, tuple[str, ...]],
    sellers: Sequence[_Seller],
    buyers: Sequence[DemoParty],
    brokers: Sequence[DemoParty],
    office_weights: Mapping[str, float],
) -> tuple[_Trader, ...]:
    sector_shares = {sector: share for sector, (_, share) in SECTORS.items()}
    export_shares = {sector: float(weight) for sector, weight in EXPORT_SECTORS.items()}
    sizes = _zipf(count)
    rng.shuffle(sizes)
    broker_weights = _zipf(len(brokers), 0.7)
    used: set[str] = set()
    traders = []
    for index in range(count):
        activity = _pick(rng, {activity: share for activity, (_, _, share) in ACTIVITIES.items()})
        sectors = [_pick(rng, export_shares if activity == "export" else sector_shares)]
        if rng.random() < 0.2:
            sectors.append(_pick(rng, sector_shares))
        aeo = rng.random() < AEO_SHARE
        risky = not aeo and activity != "export" and rng.random() < RISKY_IMPORTER_SHARE / 0.85
        name = _company(rng, used, NAME_STEMS, SECTOR_WORDS[sectors[0]], SUFFIXES)
        party = DemoParty(f"{country}{1000000001 + index}", name, country, "trader", aeo=aeo, risky=risky)
        catalogue = _catalogue(rng, sectors, products, lower_duty)
        own = [i for i, seller in enumerate(sellers) if seller.sector in sectors] or list(range(len(sellers)))
        chosen_sellers = tuple(rng.sample(own, min(len(own), rng.randint(1, 5))))
        traders.append(
            _Trader(
                party=party,
                imports=sizes[index] * ACTIVITIES[activity][0],
                exports=sizes[index] * ACTIVITIES[activity][1],
                broker=_choice(rng, brokers, broker_weights).id if rng.random() < BROKERED_SHARE else None,
                office=_pick(rng, office_weights),
                catalogue=catalogue,
                catalogue_weights=tuple(_zipf(len(catalogue), 1.0)),
                sellers=chosen_sellers,
                seller_weights=tuple(_zipf(len(chosen_sellers), 1.2)),
                buyers=tuple(rng.sample(range(len(buyers)), min(len(buyers), rng.randint(1, 4)))),
            )
        )
    return tuple(traders)


def _with_traffic(
    traders: Sequence[_Trader], brokers: Sequence[DemoParty], sellers: Sequence[_Seller]
) -> tuple[tuple[_Trader, ...], tuple[DemoParty, ...], tuple[_Seller, ...]]:
    """Each party's expected share of the declarations, so that callers can find the busy ones."""
    imports = sum(trader.imports for trader in traders)
    exports = sum(trader.exports for trader in traders)
    inbound = KIND_SHARES[IMPORT] + KIND_SHARES[TRANSIT]  # transits are declared by importers
    share = {
        trader.party.id: inbound * trader.imports / imports + KIND_SHARES[EXPORT] * trader.exports / exports
        for trader in traders
    }
    by_broker: dict[str, float] = {}
    by_seller: dict[int, float] = {}
    for trader in traders:
        if trader.broker:
            by_broker[trader.broker] = by_broker.get(trader.broker, 0.0) + share[trader.party.id] * BROKER_USE
        for seller, weight in zip(trader.sellers, _normalised(trader.seller_weights), strict=True):
            by_seller[seller] = by_seller.get(seller, 0.0) + inbound * weight * trader.imports / imports
    return (
        tuple(
            replace(trader, party=replace(trader.party, traffic=share[trader.party.id])) for trader in traders
        ),
        tuple(replace(broker, traffic=by_broker.get(broker.id, 0.0)) for broker in brokers),
        tuple(
            replace(seller, party=replace(seller.party, traffic=by_seller.get(i, 0.0)))
            for i, seller in enumerate(sellers)
        ),
    )


def _risk_factor(trader: _Trader, seller: _Seller) -> float:
    factor = AEO_FACTOR if trader.party.aeo else RISKY_IMPORTER_FACTOR if trader.party.risky else 1.0
    return factor * (RISKY_SELLER_FACTOR if seller.party.risky else 1.0)


def _true_origin(seller: _Seller) -> str:
    return ENTREPOTS.get(seller.party.country, seller.party.country)


def _irregularity_base(traders: Sequence[_Trader], sellers: Sequence[_Seller]) -> dict[str, float]:
    """Per-kind base chances such that the expected share over all imports is IRREGULARITY_SHARES."""
    total = sum(trader.imports for trader in traders)
    expected = dict.fromkeys(IRREGULARITY_SHARES, 0.0)
    for trader in traders:
        for index, weight in zip(trader.sellers, _normalised(trader.seller_weights), strict=True):
            seller = sellers[index]
            mass = trader.imports / total * weight * _risk_factor(trader, seller)
            expected[UNDERVALUATION] += mass
            expected[MISCLASSIFICATION] += mass
            if _true_origin(seller) in FALSE_ORIGIN_COVER:
                expected[FALSE_ORIGIN] += mass
    return {kind: share / expected[kind] for kind, share in IRREGULARITY_SHARES.items()}


# ---------------------------------------------------------------- time


def _holidays(country: str, years: range) -> tuple[set[date], dict[date, float]]:
    """Days off (weight HOLIDAY_WEIGHT or PUBLIC_HOLIDAY_WEIGHT) and run-up days with their boost."""
    off: set[date] = set()
    run_up: dict[date, float] = {}
    if country != "KR":
        return off, run_up
    for centre in (*SEOLLAL, *CHUSEOK):
        if centre.year not in years:
            continue
        off |= {centre + timedelta(days=delta) for delta in (-1, 0, 1)}
        for before in range(1, HOLIDAY_RUN_UP_DAYS + 1):
            boost = HOLIDAY_PEAK * (1 - (before - 1) / HOLIDAY_RUN_UP_DAYS)
            day_before = centre - timedelta(days=before + 1)
            run_up[day_before] = max(run_up.get(day_before, 0.0), boost)
    return off, run_up


def _day_weight(day: date, off: set[date], run_up: dict[date, float], country: str) -> float:
    weight = WEEKDAY_WEIGHTS[day.weekday()]
    weight *= 1 + 0.1 * math.sin(2 * math.pi * (day.timetuple().tm_yday - 80) / 365)
    if date(day.year, 10, 15) <= day <= date(day.year, 11, 30):
        weight *= 1.2
    if day in off:
        return weight * HOLIDAY_WEIGHT
    if country == "KR" and (day.month, day.day) in PUBLIC_HOLIDAYS:
        return weight * PUBLIC_HOLIDAY_WEIGHT
    return weight * (1 + run_up.get(day, 0.0))


def _lodgement_times(rng: random.Random, n: int, start: date, country: str) -> tuple[datetime, ...]:
    days = [start + timedelta(days=offset) for offset in range(365)]
    off, run_up = _holidays(country, range(start.year - 1, start.year + 3))
    weights = [_day_weight(day, off, run_up, country) for day in days]
    zone = timezone(timedelta(hours=UTC_OFFSET_HOURS.get(country, 0)))
    hours = list(range(24))
    times = []
    for day in rng.choices(days, weights=weights, k=n):
        hour = rng.choices(hours, weights=LOCAL_HOURS)[0]
        local = datetime(
            day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=zone
        )
        times.append(local.astimezone(UTC))
    return tuple(sorted(times))


# ---------------------------------------------------------------- declarations


def _lrn(counters: dict[str, int], owner: str, at: datetime) -> str:
    counters[owner] = counters.get(owner, 0) + 1
    return f"{owner[2:]}-{at:%y}{counters[owner]:06d}"


def _declarant(
    world: DemoWorld, rng: random.Random, trader: _Trader, at: datetime, counters: dict[str, int]
) -> dict[str, Any]:
    """LRN, declarant and representative: the trader itself, or its broker most of the time."""
    party = trader.party.on_document()
    if trader.broker and rng.random() < BROKER_USE:
        broker = next(broker for broker in world._brokers if broker.id == trader.broker)
        return {
            "lrn": _lrn(counters, broker.id, at),
            "declarant": party,
            "representative": broker.on_document(),
        }
    return {"lrn": _lrn(counters, trader.party.id, at), "declarant": party}


def _office(world: DemoWorld, rng: random.Random, trader: _Trader) -> str:
    return trader.office if rng.random() < 0.85 else _pick(rng, world.office_weights)


def _kind_of(code: str) -> str:
    return codes.offices()[code].kind


def _border_office(world: DemoWorld, rng: random.Random, kinds: tuple[str, ...]) -> str | None:
    candidates = {code: weight for code, weight in world.office_weights.items() if _kind_of(code) in kinds}
    return _pick(rng, candidates) if candidates else None


def _route(world: DemoWorld, rng: random.Random, lodgement: str) -> tuple[str, str]:
    """Transport mode at the border and the border office (entry or exit) for a lodgement office."""
    kind = _kind_of(lodgement)
    if kind == "airport":
        return "4", lodgement
    if kind == "seaport":
        return ("3" if rng.random() < 0.04 else "1"), lodgement
    if kind == "border":
        return "3", lodgement
    if rng.random() < 0.35:
        airport = _border_office(world, rng, ("airport",))
        if airport:
            return "4", airport
    port = (
        _border_office(world, rng, ("seaport",))
        or _border_office(world, rng, ("border", "airport"))
        or lodgement
    )
    return {"seaport": "1", "airport": "4"}.get(_kind_of(port), "3"), port


def _imo(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(6)]
    digits[0] = rng.randint(8, 9)
    check = sum(digit * weight for digit, weight in zip(digits, range(7, 1, -1), strict=True)) % 10
    return "IMO" + "".join(map(str, digits)) + str(check)


def _container(rng: random.Random) -> str:
    body = f"{rng.choice(CONTAINER_OWNERS)}U{rng.randrange(1_000_000):06d}"
    return body + check_digit(body)


def _transport(
    rng: random.Random, mode: str, at: datetime, origin_country: str, gross: Decimal
) -> dict[str, Any]:
    """Means of transport, containers and the transport document for `mode`."""
    if mode == "4":
        airline = rng.choice(list(AIRLINES))
        serial = rng.randrange(10_000_000)
        reference = f"{AIRLINES[airline]}-{serial:07d}{serial % 7}"
        document = {
            "type": "740",
            "reference": reference,
            "issuer": airline,
            "issued_on": _issued(at, rng, 0, 3),
        }
        return {
            "means_of_transport_id": f"{airline}{rng.randrange(1, 1000):04d}",
            "containers": [],
            "document": document,
        }
    if mode == "3":
        plate = (
            f"{origin_country}-{rng.randrange(10, 100)}{rng.choice('ABCDEFGHJK')}{rng.randrange(1000, 10000)}"
        )
        document = {
            "type": "730",
            "reference": f"CMR{rng.randrange(10**8):08d}",
            "issued_on": _issued(at, rng, 1, 6),
        }
        return {"means_of_transport_id": plate, "containers": [], "document": document}
    count = max(1, min(12, math.ceil(float(gross) / 18_000)))
    containers: list[str] = []
    while len(containers) < count:
        number = _container(rng)
        if number not in containers:
            containers.append(number)
    scac = rng.choice(list(CARRIERS))
    document = {
        "type": "705",
        "reference": f"{scac}{rng.randrange(10**9):09d}",
        "issuer": CARRIERS[scac],
        "issued_on": _issued(at, rng, 2, 25),
    }
    return {"means_of_transport_id": _imo(rng), "containers": containers, "document": document}


@dataclass
class _Item:
    hs: str
    origin: str
    quantity: Decimal
    price_usd: Decimal
    net: Decimal
    gross: Decimal
    packages: int


def _items(
    world: DemoWorld,
    rng: random.Random,
    trader: _Trader,
    seller: _Seller | None,
    origin: str | None,
    count: int,
) -> list[_Item]:
    """`count` distinct goods items from the trader's catalogue at honest prices."""
    chosen: list[str] = []
    for _ in range(count * 4):
        hs = _choice(rng, trader.catalogue, trader.catalogue_weights)
        if hs not in chosen:
            chosen.append(hs)
        if len(chosen) == count:
            break
    items = []
    for hs in chosen:
        product = world.products[hs]
        level = seller.price_level if seller else 1.0
        unit_price = float(product.reference_price) * level * math.exp(rng.gauss(0, PRICE_SPREAD))
        value = min(2_000_000.0, max(150.0, math.exp(rng.gauss(math.log(15_000), 1.0))))
        quantity = Decimal(max(1, round(value / unit_price)))
        net = _mass(float(quantity) * product.kg_per_unit * math.exp(rng.gauss(0, 0.03)))
        gross = _mass(float(net) * rng.uniform(1.02, 1.15))
        packages = max(1, min(99_999, math.ceil(float(gross) / PACKAGE_KG[product.package])))
        item_origin = origin or (seller and _honest_origin(rng, seller)) or world.country
        items.append(_Item(hs, item_origin, quantity, Decimal(unit_price) * quantity, net, gross, packages))
    return items


def _honest_origin(rng: random.Random, seller: _Seller) -> str:
    if rng.random() < 0.88:
        return _true_origin(seller)
    return rng.choice(("CN", "VN", "TH", "IN", "ID", "MY", "BD", "TR"))


def _item_dicts(
    world: DemoWorld, items: Sequence[_Item], prices: Sequence[Decimal], procedure: str
) -> list[dict[str, Any]]:
    return [
        {
            "sequence": index + 1,
            "hs_code": item.hs,
            "description": world.products[item.hs].description,
            "origin": item.origin,
            "preference": "100",
            "quantity": str(item.quantity),
            "unit": world.products[item.hs].unit,
            "gross_mass": str(item.gross),
            "net_mass": str(item.net),
            "price": str(price),
            "procedure": procedure,
            "package_count": item.packages,
            "package_kind": world.products[item.hs].package,
            **_strength(world.products[item.hs]),
        }
        for index, (item, price) in enumerate(zip(items, prices, strict=True))
    ]


def _strength(product: DemoProduct) -> dict[str, str]:
    return {"alcohol_strength": str(product.alcohol_strength)} if product.alcohol_strength else {}


def _decide(world: DemoWorld, rng: random.Random, trader: _Trader, seller: _Seller) -> str | None:
    factor = _risk_factor(trader, seller)
    chances = {kind: base * factor for kind, base in world._irregularity_base.items()}
    if _true_origin(seller) not in FALSE_ORIGIN_COVER:
        chances[FALSE_ORIGIN] = 0.0
    total = sum(chances.values())
    if total > 0.95:
        chances = {kind: chance * 0.95 / total for kind, chance in chances.items()}
    draw = rng.random()
    for kind, chance in chances.items():
        if draw < chance:
            return kind
        draw -= chance
    return None


def _freight(rng: random.Random, incoterm: str, total: Decimal) -> dict[str, str]:
    if codes.incoterms()[incoterm]:
        return {}
    extra = {"freight": str(_money(total * Decimal(rng.uniform(0.02, 0.08))))}
    if rng.random() < 0.5:
        extra["insurance"] = str(_money(total * Decimal("0.003")))
    return extra


def _place(incoterm: str, seller_city: str, border: str) -> str:
    if codes.incoterms()[incoterm]:
        return codes.offices()[border].name.split(" ")[0]
    return seller_city


def _importer_and_seller(
    world: DemoWorld, rng: random.Random, inland_first: bool = False
) -> tuple[_Trader, _Seller]:
    importers = [trader for trader in world._traders if trader.imports > 0]
    weights = [trader.imports for trader in importers]
    if inland_first:
        weights = [
            w * (4 if _kind_of(t.office) == "inland" else 1) for t, w in zip(importers, weights, strict=True)
        ]
    trader = _choice(rng, importers, weights)
    seller = world._sellers[_choice(rng, trader.sellers, trader.seller_weights)]
    return trader, seller


def _import(world: DemoWorld, rng: random.Random, at: datetime, counters: dict[str, int]) -> DemoDeclaration:
    trader, seller = _importer_and_seller(world, rng)
    irregularity = _decide(world, rng, trader, seller)
    count = _choice(rng, (1, 2, 3, 4, 5), (40, 25, 17, 10, 8))
    items = _items(
        world, rng, trader, seller, _true_origin(seller) if irregularity == FALSE_ORIGIN else None, count
    )
    if irregularity == MISCLASSIFICATION and not any(item.hs in world._lower_duty for item in items):
        candidates = [
            hs for hs in trader.catalogue if hs in world._lower_duty and hs not in {i.hs for i in items}
        ]
        items[-1] = _items(
            world,
            rng,
            replace(trader, catalogue=tuple(candidates), catalogue_weights=(1.0,) * len(candidates)),
            seller,
            None,
            1,
        )[0]
    fx = FX_PER_USD[seller.currency]
    honest = [_money(item.price_usd * fx) for item in items]
    prices = list(honest)
    corrections: list[tuple[str, str]] = []
    touched: tuple[int, ...] = ()
    if irregularity == UNDERVALUATION:
        factor = Decimal(rng.uniform(*UNDERVALUATION_RANGE))
        prices = [max(MONEY, _money(price * factor)) for price in honest]
        touched = tuple(range(len(items)))
        corrections = [(f"/goods_items/{i}/price", str(price)) for i, price in enumerate(honest)]
        corrections.append(("/invoice_total", str(sum(honest, Decimal(0)))))
    lodgement = _office(world, rng, trader)
    mode, entry = _route(world, rng, lodgement)
    gross = sum((item.gross for item in items), Decimal(0))
    transport = _transport(rng, mode, at, seller.party.country, gross)
    goods = _item_dicts(world, items, prices, "4000")
    if irregularity == MISCLASSIFICATION:
        index = next(i for i, item in enumerate(items) if item.hs in world._lower_duty)
        declared = rng.choice(world._lower_duty[items[index].hs])
        goods[index] |= {"hs_code": declared, "description": world.products[declared].description}
        touched = (index,)
        corrections = [
            (f"/goods_items/{index}/hs_code", items[index].hs),
            (f"/goods_items/{index}/description", world.products[items[index].hs].description),
        ]
    claim = irregularity == FALSE_ORIGIN or (
        any(item.origin in PREFERENTIAL_ORIGINS for item in items) and rng.random() < PREFERENCE_CLAIM_SHARE
    )
    if irregularity == FALSE_ORIGIN:
        cover = FALSE_ORIGIN_COVER[_true_origin(seller)]
        touched = tuple(i for i, item in enumerate(items) if item.origin == _true_origin(seller))
        for i in touched:
            goods[i] |= {"origin": cover, "preference": "300"}
            corrections += [
                (f"/goods_items/{i}/origin", items[i].origin),
                (f"/goods_items/{i}/preference", "100"),
            ]
    elif claim:
        for item, line in zip(items, goods, strict=True):
            if item.origin in PREFERENTIAL_ORIGINS:
                line["preference"] = "300"
    total = sum(prices, Decimal(0))
    claimed_origin = next((line["origin"] for line in goods if line["preference"] != "100"), None)
    documents = _import_documents(rng, at, seller, transport["document"], claimed_origin, goods)
    missing = None
    if rng.random() < MISSING_DOCUMENT_SHARE:
        documents, missing = _leave_one_out(rng, documents, bool(claimed_origin), transport_required=True)
    pre_arrival = mode == "1" and rng.random() < PRE_ARRIVAL_SHARE
    document: dict[str, Any] = {
        "kind": IMPORT,
        **({"pre_arrival": True} if pre_arrival else {}),
        **_declarant(world, rng, trader, at, counters),
        "importer": trader.party.on_document(),
        "seller": seller.party.on_document(),
        "office_of_lodgement": lodgement,
        "office_of_entry": entry,
        "transport_mode": mode,
        "means_of_transport_id": transport["means_of_transport_id"],
        "containers": transport["containers"],
        "incoterm": seller.incoterm,
        "incoterm_place": _place(seller.incoterm, seller.city, entry),
        "invoice_currency": seller.currency,
        "invoice_total": str(total),
        **_freight(rng, seller.incoterm, total),
        "country_of_dispatch": seller.party.country,
        "country_of_destination": world.country,
        "documents": documents,
        "goods_items": goods,
    }
    truth = Truth(irregularity, touched, tuple(corrections), missing)
    return DemoDeclaration(document, at, truth)


def _import_documents(
    rng: random.Random,
    at: datetime,
    seller: _Seller,
    transport: dict[str, Any],
    claimed_origin: str | None,
    goods: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    invoice_date = _issued(at, rng, 10, 45)
    documents = [
        {
            "type": "380",
            "reference": f"INV-{at:%y}-{rng.randrange(10**6):06d}",
            "issuer": seller.party.name,
            "issued_on": invoice_date,
        },
        transport,
    ]
    if claimed_origin:
        if claimed_origin in ORIGIN_DECLARATION_COUNTRIES:
            documents.append(
                {
                    "type": "862",
                    "reference": f"OD-{rng.randrange(10**7):07d}",
                    "issuer": seller.party.name,
                    "issued_on": invoice_date,
                }
            )
        else:
            issuer = f"{claimed_origin} Chamber of Commerce"
            documents.append(
                {
                    "type": "861",
                    "reference": f"CO{at:%y}{rng.randrange(10**8):08d}",
                    "issuer": issuer,
                    "issued_on": _issued(at, rng, 3, 9),
                }
            )
    if rng.random() < 0.4:
        documents.append(
            {
                "type": "271",
                "reference": f"PL-{rng.randrange(10**6):06d}",
                "issuer": seller.party.name,
                "issued_on": invoice_date,
            }
        )
    sps = sorted(
        {SPS_DOCUMENTS[line["hs_code"][:2]] for line in goods if line["hs_code"][:2] in SPS_DOCUMENTS}
    )
    for code in sps:
        documents.append(
            {
                "type": code,
                "reference": f"SPS-{rng.randrange(10**7):07d}",
                "issued_on": _issued(at, rng, 2, 12),
            }
        )
    return documents


def _leave_one_out(
    rng: random.Random, documents: list[dict[str, Any]], origin_required: bool, *, transport_required: bool
) -> tuple[list[dict[str, Any]], str]:
    """Drop one required document (invoice, transport document or proof of origin)."""
    categories = {
        "invoice": ("380", "325"),
        "transport": ("705", "706", "720", "730", "740", "750"),
        "origin": ("861", "862"),
    }
    choices = {"invoice": 0.3}
    if transport_required:
        choices["transport"] = 0.5
    if origin_required:
        choices["origin"] = 0.4
    dropped = _pick(rng, choices)
    kept = [document for document in documents if document["type"] not in categories[dropped]]
    missing = next(document["type"] for document in documents if document["type"] in categories[dropped])
    return kept, missing


def _export(world: DemoWorld, rng: random.Random, at: datetime, counters: dict[str, int]) -> DemoDeclaration:
    exporters = [trader for trader in world._traders if trader.exports > 0]
    trader = _choice(rng, exporters, [trader.exports for trader in exporters])
    buyer = world._buyers[rng.choice(trader.buyers)]
    count = _choice(rng, (1, 2, 3, 4, 5), (45, 25, 15, 10, 5))
    items = _items(world, rng, trader, None, world.country, count)
    currency = rng.choices(("USD", "KRW", "EUR"), weights=(80, 12, 8))[0] if world.country == "KR" else "USD"
    prices = [_money(item.price_usd * FX_PER_USD[currency]) for item in items]
    lodgement = _office(world, rng, trader)
    mode, exit_office = _route(world, rng, lodgement)
    gross = sum((item.gross for item in items), Decimal(0))
    transport = _transport(rng, mode, at, world.country, gross)
    incoterm = rng.choices(("FOB", "CIF", "FCA", "CFR", "EXW"), weights=(45, 25, 15, 10, 5))[0]
    documents = [
        {
            "type": "380",
            "reference": f"EX-{at:%y}-{rng.randrange(10**6):06d}",
            "issuer": trader.party.name,
            "issued_on": _issued(at, rng, 1, 10),
        }
    ]
    if rng.random() < 0.85:
        documents.append(transport["document"])
    missing = None
    if rng.random() < MISSING_DOCUMENT_SHARE:
        documents, missing = _leave_one_out(rng, documents, False, transport_required=False)
    total = sum(prices, Decimal(0))
    document: dict[str, Any] = {
        "kind": EXPORT,
        **_declarant(world, rng, trader, at, counters),
        "exporter": trader.party.on_document(),
        "seller": trader.party.on_document(),
        "buyer": buyer.on_document(),
        "office_of_lodgement": lodgement,
        "office_of_exit": exit_office,
        "transport_mode": mode,
        "means_of_transport_id": transport["means_of_transport_id"],
        "containers": transport["containers"],
        "incoterm": incoterm,
        "incoterm_place": codes.offices()[exit_office].name.split(" ")[0]
        if not codes.incoterms()[incoterm]
        else rng.choice(CITIES.get(buyer.country, ("Capital",))),
        "invoice_currency": currency,
        "invoice_total": str(total),
        "country_of_dispatch": world.country,
        "country_of_destination": buyer.country,
        "documents": documents,
        "goods_items": _item_dicts(world, items, prices, "1000"),
    }
    return DemoDeclaration(document, at, Truth(missing_document=missing))


def _transit(world: DemoWorld, rng: random.Random, at: datetime, counters: dict[str, int]) -> DemoDeclaration:
    trader, seller = _importer_and_seller(world, rng, inland_first=True)
    departure = _border_office(world, rng, ("seaport", "airport", "border")) or _office(world, rng, trader)
    inland = {
        code: w
        for code, w in world.office_weights.items()
        if _kind_of(code) == "inland" and code != departure
    }
    others = {code: w for code, w in world.office_weights.items() if code != departure}
    destination = _pick(rng, inland or others)
    mode, _ = _route(world, rng, departure)
    count = _choice(rng, (1, 2, 3), (60, 30, 10))
    items = _items(world, rng, trader, seller, None, count)
    prices = [_money(item.price_usd * FX_PER_USD[seller.currency]) for item in items]
    gross = sum((item.gross for item in items), Decimal(0))
    transport = _transport(rng, mode, at, seller.party.country, gross)
    documents = [
        {
            "type": "380",
            "reference": f"INV-{at:%y}-{rng.randrange(10**6):06d}",
            "issuer": seller.party.name,
            "issued_on": _issued(at, rng, 10, 45),
        },
        transport["document"],
        {
            "type": "430",
            "reference": f"GRN-{rng.randrange(10**8):08d}",
            "issuer": f"{world.country} guarantor bank",
            "issued_on": _issued(at, rng, 30, 300),
        },
    ]
    missing = None
    if rng.random() < MISSING_DOCUMENT_SHARE:
        documents, missing = _leave_one_out(rng, documents, False, transport_required=True)
    total = sum(prices, Decimal(0))
    document: dict[str, Any] = {
        "kind": TRANSIT,
        **_declarant(world, rng, trader, at, counters),
        "importer": trader.party.on_document(),
        "seller": seller.party.on_document(),
        "office_of_lodgement": departure,
        "office_of_destination": destination,
        "transport_mode": mode,
        "means_of_transport_id": transport["means_of_transport_id"],
        "containers": transport["containers"],
        "incoterm": seller.incoterm,
        "incoterm_place": _place(seller.incoterm, seller.city, departure),
        "invoice_currency": seller.currency,
        "invoice_total": str(total),
        "country_of_dispatch": seller.party.country,
        "country_of_destination": world.country,
        "documents": documents,
        "goods_items": _item_dicts(world, items, prices, "8000"),
    }
    return DemoDeclaration(document, at, Truth(missing_document=missing))
