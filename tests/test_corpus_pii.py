"""PII redaction: Thai national ID checksums (valid and invalid), Thai phone formats, e-mail, IP.

Run: .venv/bin/pytest -q tests/test_corpus_pii.py
"""

from __future__ import annotations

import pytest

from langadapt.corpus.pii import redact_pii, thai_id_valid

# 1-1017-00203-45-0: sum(d_i * (13 - i)) over the first 12 digits = 72; (11 - 72 % 11) % 10 = 0
VALID_ID = "1101700203450"


def test_thai_id_checksum():
    assert thai_id_valid(VALID_ID)
    # 3-1006-00445-97-?: weighted sum 3*13+1*12+0*11+0*10+6*9+0*8+0*7+4*6+4*5+5*4+9*3+7*2 = 210,
    # 210 % 11 = 1, (11 - 1) % 10 = 0
    assert thai_id_valid("3100600445970")
    assert not thai_id_valid("3100600445971")
    for last in "123456789":
        assert not thai_id_valid(VALID_ID[:-1] + last)
    assert not thai_id_valid("110170020345")  # 12 digits
    assert not thai_id_valid("11017002034a0")


@pytest.mark.parametrize(
    ("text", "expected", "counts"),
    [
        (f"บัตรประชาชน {VALID_ID} ค่ะ", "บัตรประชาชน <TH_NATIONAL_ID> ค่ะ", {"TH_NATIONAL_ID": 1}),
        ("เลขที่ 1-1017-00203-45-0", "เลขที่ <TH_NATIONAL_ID>", {"TH_NATIONAL_ID": 1}),
        ("เลขที่ 1 1017 00203 45 0", "เลขที่ <TH_NATIONAL_ID>", {"TH_NATIONAL_ID": 1}),
        ("เลขผิด 1101700203451", "เลขผิด 1101700203451", {}),  # wrong check digit: not an ID
        ("คำสั่งซื้อ 0101700203450", "คำสั่งซื้อ 0101700203450", {}),  # IDs never start with 0
        ("โทร 081-234-5678", "โทร <PHONE>", {"PHONE": 1}),
        ("โทร 0812345678 ด่วน", "โทร <PHONE> ด่วน", {"PHONE": 1}),
        ("มือถือ 06 1234 5678", "มือถือ <PHONE>", {"PHONE": 1}),
        ("มือถือ 091.234.5678", "มือถือ <PHONE>", {"PHONE": 1}),
        ("สำนักงาน 02-123-4567", "สำนักงาน <PHONE>", {"PHONE": 1}),
        ("สำนักงาน 02 123 4567", "สำนักงาน <PHONE>", {"PHONE": 1}),
        ("เชียงใหม่ 053-123-456", "เชียงใหม่ <PHONE>", {"PHONE": 1}),
        ("call +66 81 234 5678", "call <PHONE>", {"PHONE": 1}),
        ("call +66812345678", "call <PHONE>", {"PHONE": 1}),
        ("call (+66) 2-123-4567", "call <PHONE>", {"PHONE": 1}),
        ("ราคา 1,234 บาท ปี 2567", "ราคา 1,234 บาท ปี 2567", {}),
        ("เลขพัสดุ 08123456789012", "เลขพัสดุ 08123456789012", {}),  # inside a longer digit run
        ("เวลา 10:30:00 น. รุ่น 1.2.3", "เวลา 10:30:00 น. รุ่น 1.2.3", {}),
        ("mail a.b-c@ex-ample.co.th now", "mail <EMAIL> now", {"EMAIL": 1}),
        ("host 192.168.1.10, bad 999.1.1.1", "host <IP>, bad 999.1.1.1", {"IP": 1}),
        ("v6 2001:db8::8a2e:370:7334 ok", "v6 <IP> ok", {"IP": 1}),
        # Thai digits (issue 13 item 5): IDs and phones as Thai pages write them
        ("บัตร ๑๑๐๑๗๐๐๒๐๓๔๕๐ ค่ะ", "บัตร <TH_NATIONAL_ID> ค่ะ", {"TH_NATIONAL_ID": 1}),
        ("เลขที่ ๑-๑๐๑๗-๐๐๒๐๓-๔๕-๐", "เลขที่ <TH_NATIONAL_ID>", {"TH_NATIONAL_ID": 1}),
        ("เลขผิด ๑๑๐๑๗๐๐๒๐๓๔๕๑", "เลขผิด ๑๑๐๑๗๐๐๒๐๓๔๕๑", {}),  # wrong check digit
        ("โทร ๐๘๑-๒๓๔-๕๖๗๘", "โทร <PHONE>", {"PHONE": 1}),
        ("โทร ๐๒ ๑๒๓ ๔๕๖๗ ครับ", "โทร <PHONE> ครับ", {"PHONE": 1}),
        ("ปี ๒๕๖๗ ราคา ๑,๒๓๔ บาท", "ปี ๒๕๖๗ ราคา ๑,๒๓๔ บาท", {}),
        ("เลข ๐๘๑๒๓๔๕๖๗๘๙๐๑๒", "เลข ๐๘๑๒๓๔๕๖๗๘๙๐๑๒", {}),  # 14 Thai digits: not a phone
        # area code in parentheses, and +66 with the trunk 0 kept in parentheses
        ("โทร (02) 123-4567 ต่อ 12", "โทร <PHONE> ต่อ 12", {"PHONE": 1}),
        ("โทร (081) 234-5678", "โทร <PHONE>", {"PHONE": 1}),
        ("โทร (053) 123-456", "โทร <PHONE>", {"PHONE": 1}),
        ("โทร (02) 123-45678", "โทร (02) 123-45678", {}),  # 10 digits after 02: not a landline
        ("call +66 (0) 81 234 5678 now", "call <PHONE> now", {"PHONE": 1}),
        ("call +66 (0)2 123 4567", "call <PHONE>", {"PHONE": 1}),
        ("call (+66) (0) 81-234-5678", "call <PHONE>", {"PHONE": 1}),
        ("call +66 (0) 81 234 567", "call +66 (0) 81 234 567", {}),  # one digit short
    ],
)
def test_redact(text, expected, counts):
    out, c = redact_pii(text)
    assert out == expected
    assert dict(c) == counts
