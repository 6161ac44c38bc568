"""What the synthetic businesses sell: products per industry, with units, price ranges and the
VAT rate Vietnamese invoices of 2025-2026 carry for them (8% reduced rate for most goods, 10% for
telecom/IT/rent/fuel, 5% for essentials, KCT for software services)."""

from __future__ import annotations

from dataclasses import dataclass

RATES = {"10%": 0.1, "8%": 0.08, "5%": 0.05, "0%": 0.0, "KCT": 0.0}


@dataclass(frozen=True)
class Product:
    name: str  # may hold {period} (MM/YYYY of the month before issue) or {code}
    unit: str
    price: tuple[int, int]  # unit price range in đồng (VAT included for cash-register sales)
    rate: str  # VAT rate label
    quantity: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class Industry:
    key: str
    title: str  # the words a company name of that trade carries
    products: tuple[Product, ...]
    max_lines: int = 5


def _industry(key: str, title: str, *products: Product, max_lines: int = 5) -> Industry:
    return Industry(key, title, products, max_lines)


P = Product
INDUSTRIES: dict[str, Industry] = {
    industry.key: industry
    for industry in (
        _industry(
            "office",
            "THƯƠNG MẠI VÀ DỊCH VỤ",
            P("Giấy in A4 70gsm", "Ram", (68000, 85000), "8%", (5, 60)),
            P("Bút bi xanh hộp 20 cây", "Hộp", (45000, 60000), "8%", (1, 20)),
            P("Mực in laser tương thích", "Hộp", (250000, 450000), "8%", (1, 10)),
            P("Sổ bìa cứng A5", "Cuốn", (35000, 80000), "8%", (5, 50)),
            P("File còng bật 7cm", "Cái", (38000, 55000), "8%", (5, 40)),
            P("Kẹp tài liệu 32mm", "Hộp", (15000, 25000), "8%", (2, 30)),
        ),
        _industry(
            "it",
            "CÔNG NGHỆ",
            P("Phí bản quyền phần mềm kế toán", "Gói", (3000000, 12000000), "KCT"),
            P("Dịch vụ máy chủ ảo tháng {period}", "Tháng", (800000, 5000000), "10%"),
            P("Gia hạn tên miền .vn", "Năm", (450000, 750000), "10%"),
            P("Chuột không dây", "Cái", (150000, 350000), "8%", (1, 20)),
            P("Bàn phím cơ", "Cái", (600000, 1800000), "8%", (1, 10)),
            P("Màn hình 24 inch Full HD", "Cái", (2500000, 4500000), "8%", (1, 8)),
            max_lines=4,
        ),
        _industry(
            "logistics",
            "VẬN TẢI VÀ GIAO NHẬN",
            P(
                "Cước vận chuyển hàng hóa Hà Nội - Hồ Chí Minh",
                "Chuyến",
                (3500000, 18000000),
                "8%",
                (1, 3),
            ),
            P("Phí bốc xếp hàng hóa", "Lần", (300000, 1500000), "8%", (1, 4)),
            P("Cước chuyển phát nhanh tháng {period}", "Tháng", (500000, 6000000), "8%"),
            P("Phí lưu kho", "m2", (80000, 150000), "8%", (10, 200)),
            max_lines=3,
        ),
        _industry(
            "food",
            "THỰC PHẨM",
            P("Gạo thơm túi 5kg", "Túi", (160000, 220000), "5%", (5, 100)),
            P("Dầu ăn can 5 lít", "Can", (180000, 260000), "8%", (2, 50)),
            P("Nước mắm chai 500ml", "Chai", (30000, 60000), "8%", (6, 120)),
            P("Bánh quy bơ hộp 400g", "Hộp", (70000, 120000), "8%", (6, 100)),
            P("Cà phê rang xay gói 500g", "Gói", (120000, 220000), "8%", (2, 40)),
            P("Nước khoáng thùng 24 chai", "Thùng", (90000, 130000), "8%", (2, 60)),
            max_lines=6,
        ),
        _industry(
            "construction",
            "XÂY DỰNG",
            P("Xi măng PCB40", "Tấn", (1400000, 1800000), "8%", (1, 30)),
            P("Thép thanh vằn D16", "Kg", (14500, 17500), "8%", (100, 5000)),
            P("Cát vàng xây dựng", "m3", (350000, 500000), "8%", (5, 60)),
            P("Gạch đặc 6x10,5x22", "Viên", (1200, 1800), "8%", (1000, 20000)),
            P("Sơn nội thất thùng 18 lít", "Thùng", (1200000, 2800000), "8%", (1, 20)),
        ),
        _industry(
            "pharma",
            "DƯỢC PHẨM",
            P("Khẩu trang y tế 4 lớp hộp 50 cái", "Hộp", (35000, 60000), "5%", (10, 200)),
            P("Nước muối sinh lý 500ml", "Chai", (8000, 15000), "5%", (20, 300)),
            P("Găng tay y tế hộp 100 cái", "Hộp", (70000, 120000), "5%", (5, 100)),
            P("Bông y tế gói 100g", "Gói", (15000, 30000), "5%", (10, 200)),
        ),
        _industry(
            "advertising",
            "TRUYỀN THÔNG VÀ QUẢNG CÁO",
            P("Dịch vụ quảng cáo trực tuyến tháng {period}", "Tháng", (5000000, 50000000), "8%"),
            P("In tờ rơi A5 hai mặt", "Tờ", (600, 1500), "8%", (1000, 20000)),
            P("Thiết kế bộ nhận diện thương hiệu", "Gói", (8000000, 30000000), "8%"),
            max_lines=2,
        ),
        _industry(
            "hotel",
            "DU LỊCH VÀ KHÁCH SẠN",
            P("Tiền phòng khách sạn", "Đêm", (800000, 2500000), "8%", (1, 6)),
            P("Dịch vụ ăn uống hội nghị", "Suất", (150000, 450000), "8%", (10, 120)),
            P("Thuê phòng hội thảo", "Buổi", (3000000, 12000000), "8%"),
            max_lines=3,
        ),
        # Sellers that send invoices without a tax-authority code (ttxly 6), monthly bills.
        _industry(
            "power",
            "ĐIỆN LỰC",
            P("Tiền điện tháng {period}", "kWh", (1900, 3200), "8%", (200, 8000)),
            max_lines=1,
        ),
        _industry(
            "telecom",
            "VIỄN THÔNG",
            P("Cước dịch vụ viễn thông tháng {period}", "Tháng", (200000, 3000000), "10%"),
            P("Cước Internet cáp quang tháng {period}", "Tháng", (250000, 1500000), "10%"),
            max_lines=2,
        ),
        _industry(
            "water",
            "CẤP NƯỚC",
            P("Tiền nước sinh hoạt tháng {period}", "m3", (6000, 20000), "5%", (10, 400)),
            max_lines=1,
        ),
        _industry(
            "rent",
            "ĐỊA ỐC",
            P("Phí thuê văn phòng tháng {period}", "Tháng", (15000000, 120000000), "10%"),
            P("Phí quản lý tòa nhà tháng {period}", "m2", (25000, 60000), "10%", (50, 600)),
            P("Phí gửi xe ô tô tháng {period}", "Xe", (1200000, 2000000), "10%", (1, 5)),
            max_lines=3,
        ),
        # Cash-register (máy tính tiền) sellers: prices include VAT.
        _industry(
            "restaurant",
            "DỊCH VỤ ĂN UỐNG",
            P("Cơm gà xối mỡ", "Phần", (45000, 75000), "8%", (1, 6)),
            P("Phở bò tái", "Bát", (50000, 80000), "8%", (1, 6)),
            P("Trà đá", "Cốc", (5000, 10000), "8%", (1, 8)),
            P("Nước cam ép", "Cốc", (35000, 55000), "8%", (1, 4)),
            P("Lẩu thái hải sản", "Nồi", (350000, 550000), "8%"),
            max_lines=4,
        ),
        _industry(
            "cafe",
            "CÀ PHÊ",
            P("Cà phê sữa đá", "Ly", (25000, 55000), "8%", (1, 5)),
            P("Trà đào cam sả", "Ly", (45000, 65000), "8%", (1, 4)),
            P("Bánh sừng bò", "Cái", (30000, 45000), "8%", (1, 4)),
            max_lines=3,
        ),
        _industry(
            "retail",
            "BÁN LẺ",
            P("Sữa tươi tiệt trùng hộp 1 lít", "Hộp", (30000, 38000), "8%", (1, 12)),
            P("Nước rửa chén chai 750ml", "Chai", (25000, 40000), "8%", (1, 3)),
            P("Giấy vệ sinh bịch 10 cuộn", "Bịch", (60000, 110000), "8%", (1, 3)),
            P("Mì ăn liền thùng 30 gói", "Thùng", (95000, 130000), "8%", (1, 2)),
            P("Trứng gà hộp 10 quả", "Hộp", (28000, 40000), "5%", (1, 3)),
        ),
        _industry(
            "fuel",
            "XĂNG DẦU",
            P("Xăng RON 95-III", "Lít", (20000, 25500), "10%", (3, 60)),
            P("Dầu DO 0,05S-II", "Lít", (18000, 22000), "10%", (10, 200)),
            max_lines=1,
        ),
        _industry(
            "ride",
            "DỊCH VỤ VẬN CHUYỂN",
            P("Cước phí vận chuyển mã {code}", "Chuyến", (25000, 250000), "8%"),
            max_lines=1,
        ),
    )
}

ELECTRONIC_TRADES = (
    "office",
    "it",
    "logistics",
    "food",
    "construction",
    "pharma",
    "advertising",
    "hotel",
)
UNCODED_TRADES = ("power", "telecom", "water", "rent")
REGISTER_TRADES = ("restaurant", "cafe", "retail", "fuel", "ride")
