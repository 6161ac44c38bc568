"""Synthetic Vietnamese businesses and people: names, addresses, contacts, banks, the invoice
software (T-VAN provider) a seller uses and its signing certificate."""

from __future__ import annotations

import functools
import json
import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from gdtmesh.taxcode import make_personal_tax_code, make_tax_code
from sandbox.catalog import INDUSTRIES
from sandbox.vnwords import WordStyle


@dataclass(frozen=True)
class Province:
    prefix: str  # leading digits of tax codes registered there
    name: str
    city: str
    cqt: str  # leading digits of its tax office codes
    area_code: str
    wards: tuple[str, ...]
    streets: tuple[str, ...]


PROVINCES = (
    Province(
        "01",
        "Hà Nội",
        "Thành phố Hà Nội",
        "01",
        "024",
        (
            "Hoàn Kiếm",
            "Ba Đình",
            "Cầu Giấy",
            "Đống Đa",
            "Hai Bà Trưng",
            "Tây Hồ",
            "Thanh Xuân",
            "Hoàng Mai",
            "Long Biên",
            "Kim Liên",
            "Láng",
            "Nghĩa Đô",
        ),
        (
            "Phố Huế",
            "Láng Hạ",
            "Trần Duy Hưng",
            "Nguyễn Chí Thanh",
            "Kim Mã",
            "Xuân Thủy",
            "Giải Phóng",
            "Tố Hữu",
            "Lạc Long Quân",
            "Hoàng Quốc Việt",
            "Bà Triệu",
            "Nguyễn Trãi",
        ),
    ),
    Province(
        "03",
        "Hồ Chí Minh",
        "Thành phố Hồ Chí Minh",
        "79",
        "028",
        (
            "Bến Thành",
            "Sài Gòn",
            "Tân Định",
            "Võ Thị Sáu",
            "Xuân Hòa",
            "Bình Thạnh",
            "Gia Định",
            "Tân Sơn Nhất",
            "Phú Nhuận",
            "Thủ Đức",
            "An Khánh",
            "Tân Mỹ",
        ),
        (
            "Nguyễn Thị Minh Khai",
            "Điện Biên Phủ",
            "Cách Mạng Tháng Tám",
            "Lê Văn Sỹ",
            "Nguyễn Văn Trỗi",
            "Võ Văn Kiệt",
            "Phan Xích Long",
            "Hoàng Văn Thụ",
            "Nguyễn Đình Chiểu",
            "Lý Thường Kiệt",
            "Nguyễn Hữu Thọ",
            "Pasteur",
        ),
    ),
    Province(
        "02",
        "Hải Phòng",
        "Thành phố Hải Phòng",
        "31",
        "0225",
        ("Hồng Bàng", "Ngô Quyền", "Lê Chân", "Hải An", "Kiến An"),
        ("Lạch Tray", "Trần Phú", "Lê Hồng Phong", "Văn Cao", "Tô Hiệu"),
    ),
    Province(
        "04",
        "Đà Nẵng",
        "Thành phố Đà Nẵng",
        "48",
        "0236",
        ("Hải Châu", "Thanh Khê", "Sơn Trà", "Ngũ Hành Sơn", "Hòa Cường"),
        ("Nguyễn Văn Linh", "Bạch Đằng", "Lê Duẩn", "Hàm Nghi", "Trưng Nữ Vương"),
    ),
    Province(
        "23",
        "Bắc Ninh",
        "Tỉnh Bắc Ninh",
        "27",
        "0222",
        ("Kinh Bắc", "Võ Cường", "Từ Sơn", "Đình Bảng", "Hạp Lĩnh"),
        ("Lý Thái Tổ", "Nguyễn Gia Thiều", "Trần Hưng Đạo", "Ngô Gia Tự", "Lê Thái Tổ"),
    ),
    Province(
        "36",
        "Đồng Nai",
        "Tỉnh Đồng Nai",
        "75",
        "0251",
        ("Trấn Biên", "Tam Hiệp", "Long Bình", "Biên Hòa", "Long Khánh"),
        ("Phạm Văn Thuận", "Đồng Khởi", "Võ Thị Sáu", "Nguyễn Ái Quốc", "Hà Huy Giáp"),
    ),
)
_PROVINCE_WEIGHTS = (40, 40, 6, 6, 4, 4)
PROVINCE_BY_PREFIX = {province.prefix: province for province in PROVINCES}


@dataclass(frozen=True)
class Provider:
    """An invoice software vendor acting as T-VAN: it shapes the free-form fields of invoices."""

    style: str  # "viettel" | "misa" | "vnpt" | "hilo" | "bkav"
    tvan: str  # account name shown in `ngcnhat` / `tentvandnkntt`
    mst: str
    ca_issuer: str  # issuer of the certificates its customers sign with
    thdon: str  # invoice title it prints
    payment: str  # `thtttoan`
    pban: str  # TT78 schema version it sends
    words: WordStyle


def _provider_mst(name: str) -> str:
    return make_tax_code(random.Random(f"gdtmesh-sandbox-provider-{name}"), province="01")


PROVIDERS = {
    provider.style: provider
    for provider in (
        Provider(
            "viettel",
            "tvan_viettel",
            _provider_mst("viettel"),
            "C=VN, O=Viettel Group, CN=Viettel-CA SHA2",
            "Hóa đơn giá trị gia tăng",
            "TM/CK",
            "2.0.0",
            WordStyle("nghìn", "lẻ", " đồng"),
        ),
        Provider(
            "misa",
            "tvan_misa",
            _provider_mst("misa"),
            "C=VN, O=CÔNG TY CỔ PHẦN CHỮ KÝ SỐ FASTCA, CN=FastCA SHA-256",
            "Hóa đơn giá trị gia tăng",
            "TM/CK",
            "2.1.0",
            WordStyle("nghìn", "linh", " đồng."),
        ),
        Provider(
            "vnpt",
            "tvan_buuchinhvt",
            _provider_mst("vnpt"),
            "C=VN, O=VIETNAM POSTS AND TELECOMMUNICATIONS GROUP, CN=VNPT-CA SHA2",
            "Hóa đơn GTGT",
            "CK/TM",
            "2.1.0",
            WordStyle("ngàn", "lẻ", " đồng chẵn"),
        ),
        Provider(
            "hilo",
            "tvan_hilo",
            _provider_mst("hilo"),
            "C=VN, O=CÔNG TY CỔ PHẦN CHỮ KÝ SỐ FASTCA, CN=FastCA SHA-256",
            "Hóa đơn điện tử giá trị gia tăng",
            "Chuyển khoản",
            "2.1.0",
            WordStyle("nghìn", "linh", " đồng", capitalised=False, one_after_tens="một"),
        ),
        Provider(
            "bkav",
            "tvan_bkav",
            _provider_mst("bkav"),
            "CN=BkavCA SHA256, O=Bkav Corporation, L=Hà Nội, C=VN",
            "Hóa đơn giá trị gia tăng",
            "Tiền mặt/Chuyển khoản",
            "2.1.0",
            WordStyle("nghìn", "linh", " đồng chẵn./."),
        ),
    )
}
ELECTRONIC_STYLES = ("viettel", "misa", "vnpt")
REGISTER_STYLES = ("hilo", "bkav")

_FORMS = (
    "CÔNG TY TNHH",
    "CÔNG TY TNHH",
    "CÔNG TY CỔ PHẦN",
    "CÔNG TY CỔ PHẦN",
    "CÔNG TY TNHH MỘT THÀNH VIÊN",
)
_FIRST = (
    "AN",
    "BẢO",
    "BÌNH",
    "CHÂU",
    "ĐẠI",
    "ĐỨC",
    "GIA",
    "HẢI",
    "HOÀNG",
    "HỒNG",
    "HƯNG",
    "KIM",
    "LONG",
    "MINH",
    "NAM",
    "NGỌC",
    "PHÚ",
    "PHƯƠNG",
    "QUANG",
    "SAO",
    "TÂN",
    "THÀNH",
    "THIÊN",
    "TRÍ",
    "TRƯỜNG",
    "VIỆT",
    "VĨNH",
    "XUÂN",
    "ÁNH",
    "THĂNG",
)
_SECOND = (
    "PHÁT",
    "LONG",
    "KHANG",
    "MAI",
    "ĐẠT",
    "THỊNH",
    "PHÚC",
    "TIẾN",
    "LỢI",
    "VƯỢNG",
    "THÁI",
    "SƠN",
    "HÀ",
    "DƯƠNG",
    "NGUYÊN",
    "QUÝ",
    "TÂM",
    "TRUNG",
    "HOA",
    "LỘC",
    "HUY",
    "KHÔI",
    "LINH",
    "BẢO",
)
_FAMILY = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
)
_MIDDLE = ("Văn", "Thị", "Minh", "Thu", "Đức", "Ngọc", "Hoàng", "Thanh", "Quốc", "Thùy")
_GIVEN = (
    "An",
    "Bình",
    "Chi",
    "Dũng",
    "Giang",
    "Hà",
    "Hải",
    "Hạnh",
    "Hiếu",
    "Hoa",
    "Hùng",
    "Hương",
    "Khánh",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Nam",
    "Ngọc",
    "Phương",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Trang",
    "Tuấn",
    "Việt",
    "Yến",
)
_BANKS = (
    "Ngân hàng TMCP Ngoại thương Việt Nam",
    "Ngân hàng TMCP Công thương Việt Nam",
    "Ngân hàng TMCP Đầu tư và Phát triển Việt Nam",
    "Ngân hàng TMCP Kỹ thương Việt Nam",
    "Ngân hàng TMCP Á Châu",
    "Ngân hàng TMCP Quân đội",
    "Ngân hàng TMCP Việt Nam Thịnh Vượng",
    "Ngân hàng Nông nghiệp và Phát triển Nông thôn Việt Nam",
)
_BUILDINGS = (
    "Tòa nhà Sông Hồng",
    "Tòa nhà Hòa Bình",
    "Cao ốc Sao Việt",
    "Tòa nhà Thành Công",
    "Tòa nhà An Phú Plaza",
    "Tòa nhà Hoa Sen",
)


def ascii_slug(text: str) -> str:
    """Lower-case ASCII without diacritics or spaces, for e-mail and web addresses."""
    text = text.replace("Đ", "D").replace("đ", "d")
    plain = unicodedata.normalize("NFD", text).encode("ascii", "ignore").decode()
    return "".join(char for char in plain.lower() if char.isalnum())


@dataclass(frozen=True)
class Party:
    """A seller or buyer as printed on invoices."""

    mst: str | None
    name: str
    address: str | None
    province: Province
    ward: str
    phone: str | None
    email: str | None
    website: str | None
    bank_account: str | None
    bank_name: str | None


@dataclass(frozen=True)
class Issuer:
    """A seller together with how it issues invoices."""

    party: Party
    provider: Provider
    trade: str  # key into catalog.INDUSTRIES
    cqt: str  # managing tax office
    cert_serial: str  # 32 hex digits
    cert_not_before: datetime
    register_code: str  # cash-register generator code in `mhdon` (M1-YY-<code>-...)
    store: str  # store name printed by cash-register software

    @property
    def cert_not_after(self) -> datetime:
        return self.cert_not_before + timedelta(days=3 * 365)

    def cert_subject(self) -> str:
        party, mst = self.party, self.party.mst
        region = party.province.name.upper()
        if self.provider.style == "viettel":
            return f"UID=MST:{mst},CN={party.name},L={region},C=VN"
        if self.provider.style == "misa":
            return (
                f"E={party.email}, OID.0.9.2342.19200300.100.1.1=MST:{mst}, "
                f"CN={party.name}, S={party.province.name}, C=VN"
            )
        return (
            f"OID.0.9.2342.19200300.100.1.1=MST:{mst}, CN={party.name}, "
            f"L=Phường {party.ward}, S={region}, C=VN"
        )

    def cert_json(self, signing_local: datetime) -> str:
        """The `nbcks` value: the seller certificate as the portal shows it."""
        local = signing_local.isoformat(timespec="seconds")[:19]
        return f'{self._cert_head},"SigningTime":"{local}"}}'

    @functools.cached_property
    def _cert_head(self) -> str:
        """The certificate JSON up to its closing SigningTime member."""
        head = {
            "Subject": self.cert_subject(),
            "SerialNumber": self.cert_serial,
            "Issuer": self.provider.ca_issuer,
            "NotAfter": f"{self.cert_not_after:%Y-%m-%dT%H:%M:%S}",
            "NotBefore": f"{self.cert_not_before:%Y-%m-%dT%H:%M:%S}",
        }
        return json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]


def pick_province(rng: random.Random) -> Province:
    return rng.choices(PROVINCES, weights=_PROVINCE_WEIGHTS)[0]


def company_name(rng: random.Random, trade: str) -> str:
    first = rng.choice(_FIRST)
    second = rng.choice([word for word in _SECOND if word != first])
    return f"{rng.choice(_FORMS)} {INDUSTRIES[trade].title} {first} {second}"


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(_FAMILY)} {rng.choice(_MIDDLE)} {rng.choice(_GIVEN)}"


def street_address(rng: random.Random, province: Province, ward: str) -> str:
    street = (
        f"Số {rng.randint(1, 420)} {rng.choice(('Đường', 'Phố'))} {rng.choice(province.streets)}"
    )
    if rng.random() < 0.25:
        street = f"Tầng {rng.randint(2, 25)}, {rng.choice(_BUILDINGS)}, {street.lower()}"
    return f"{street}, Phường {ward}, {province.city}, Việt Nam"


def _phone(rng: random.Random, province: Province) -> str:
    if rng.random() < 0.5:
        return rng.choice(("09", "08", "03", "07")) + f"{rng.randrange(10**8):08d}"
    digits = 11 - len(province.area_code)
    return province.area_code + f"{rng.randrange(10**digits):0{digits}d}"


def make_business(
    rng: random.Random,
    trade: str,
    mst: str | None = None,
    name: str | None = None,
    province: Province | None = None,
) -> Party:
    """A business with complete contact details (fixed parts may be given)."""
    province = province or (
        PROVINCE_BY_PREFIX.get(mst[:2], PROVINCES[0]) if mst else pick_province(rng)
    )
    mst = mst or make_tax_code(rng, branch=rng.random() < 0.08, province=province.prefix)
    name = name or company_name(rng, trade)
    ward = rng.choice(province.wards)
    domain = ascii_slug(" ".join(name.split()[-2:])) + rng.choice((".com.vn", ".vn", ".com"))
    return Party(
        mst=mst,
        name=name,
        address=street_address(rng, province, ward),
        province=province,
        ward=ward,
        phone=_phone(rng, province),
        email=f"{rng.choice(('ketoan', 'info', 'hoadon', 'contact'))}@{domain}",
        website=f"https://{domain}/" if rng.random() < 0.3 else None,
        bank_account=f"{rng.randrange(10**12, 10**15)}",
        bank_name=f"{rng.choice(_BANKS)} - Chi nhánh {province.name}",
    )


def make_person(rng: random.Random, with_tax_code: bool) -> Party:
    """An individual buyer (a personal tax code only when ``with_tax_code``)."""
    province = pick_province(rng)
    ward = rng.choice(province.wards)
    return Party(
        mst=make_personal_tax_code(rng) if with_tax_code else None,
        name=person_name(rng),
        address=street_address(rng, province, ward) if with_tax_code else None,
        province=province,
        ward=ward,
        phone=None,
        email=None,
        website=None,
        bank_account=None,
        bank_name=None,
    )


def make_issuer(
    rng: random.Random, party: Party, style: str, trade: str, period_start: datetime
) -> Issuer:
    """How ``party`` issues invoices: its software, tax office and certificate."""
    return Issuer(
        party=party,
        provider=PROVIDERS[style],
        trade=trade,
        cqt=party.province.cqt + f"{rng.randint(1, 30):02d}",
        cert_serial="540" + "".join(rng.choice("0123456789ABCDEF") for _ in range(29)),
        cert_not_before=(period_start - timedelta(days=rng.randint(30, 700))).replace(
            hour=rng.randint(7, 17), minute=rng.randrange(60), second=rng.randrange(60)
        ),
        register_code="".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5)),
        store=f"Cửa hàng {rng.choice(_FIRST).title()} {rng.choice(_SECOND).title()} số "
        f"{rng.randint(1, 40)}",
    )
