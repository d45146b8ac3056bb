"""Build samples/site/: a small static Thai news website, the embedded default's crawl target.

    .venv/bin/python samples/build_site.py                 # reads ../shared/data, writes samples/site/
    .venv/bin/python samples/build_site.py --data DIR --out DIR

Deterministic (same input -> same bytes; no clock, seeded choices); the output is committed, so only a
developer with ../shared/data (thaigov-news.jsonl, wisesight posts) needs to run it. Serve it with
``python -m langadapt.corpus.sitehost samples/site`` and crawl it with samples/make_snapshot.sh.

What a crawler and the cleaning stages meet here (samples/site-manifest.json lists each case):
- all 966 government news articles (thaigov-corpus, public domain; bodies cut at BODY_CHARS) in 6 categories, with realistic
  boilerplate: nav, breadcrumbs, sidebars, ads, share buttons, comment widgets (wisesight posts, CC0),
  footer; paginated category index pages and a home page;
- robots.txt disallowing /admin/ (which exists and is linked from every footer);
- English pages (/en/); syndicated copies of articles on /partner/ (exact and near duplicates under
  other boilerplate); Thai gambling-ad spam pages (/promo/), linked from the ad boxes;
- pages with e-mail addresses, Thai phone numbers and Thai national ID numbers (valid and invalid
  checksums) (/directory/, /contact.html);
- one page in TIS-620 (/legacy/tis620.html: <meta charset="tis-620">, served with that charset);
- non-HTML files (/files/*.pdf, *.jpg) linked from articles; an oversized page (/archive/all.html,
  over the crawler's 1 MiB limit); a broken link (404).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import random
import re
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
SITE_NAME = "ข่าวไทยวันนี้"
SITE_EN = "Thai News Today"
SEED = 20240101
N_ARTICLES = None  # all 966 thaigov articles (public domain): enough Thai text for the tiny default to learn more than unigrams
BODY_CHARS = 1500
PER_PAGE = 12

CATEGORIES = {  # thaigov folder label -> (slug, Thai name)
    "ด้านเศรษฐกิจ": ("economy", "เศรษฐกิจ"),
    "ข่าวทำเนียบรัฐบาล": ("government", "ทำเนียบรัฐบาล"),
    "ด้านสังคม": ("society", "สังคม"),
    "ด้านความมั่นคง": ("security", "ความมั่นคง"),
    "ด้านการศึกษาฯ": ("education", "การศึกษา"),
}
OTHER = ("general", "ข่าวทั่วไป")

SPAM_PHRASES = [
    "บาคาร่าออนไลน์ เว็บตรง ไม่ผ่านเอเย่นต์", "สล็อตแตกง่าย แตกหนัก จ่ายจริง", "ฝากถอนไม่มีขั้นต่ำ ออโต้ 30 วินาที",
    "แทงบอลออนไลน์ ราคาดีที่สุด ค่าน้ำ 4 ตังค์", "สมัครวันนี้ รับเครดิตฟรี 100 บาท ไม่ต้องฝาก", "เว็บตรง 100% มั่นคง ปลอดภัย",
    "คาสิโนออนไลน์ อันดับ 1 ของไทย", "โปรโมชั่นสมาชิกใหม่ รับโบนัส 100%", "สล็อต PG ทดลองเล่นฟรี",
    "แทงหวยออนไลน์ จ่ายบาทละ 900", "ยูฟ่าเบท สมัครง่าย ได้เงินจริง", "เครดิตฟรี ยืนยันเบอร์ รับเลย",
    "บาคาร่า สูตรเด็ด ได้เงินทุกวัน", "ปั่นสล็อต ฟรีสปิน ไม่อั้น", "ฝาก 1 บาท ก็เล่นได้ ไม่มีขั้นต่ำ",
]
SPAM_TAILS = ["ติดต่อแอดมิน LINE: @slot{n}", "สมัครเลย!! คลิกที่นี่", "24 ชั่วโมง ไม่มีวันหยุด", "โอนไว จ่ายชัวร์ 🎰💰"]

EN_PAGES = [  # (slug, title, paragraphs separated by blank lines)
    ('about', 'About Thai News Today', (
        "Thai News Today is a sample news website built for testing web crawlers and text-cleaning "
        "pipelines. Its Thai articles come from public-domain Thai government news releases.\n\n"
        "The English section is short on purpose: a language filter for a Thai corpus should drop it,"
        " and the extraction stage should keep only the article text, not the menus and footers "
        "around it.\n\n"
        "All names, addresses, phone numbers and identity numbers on this site are invented."
    )),
    ('cabinet-briefing', 'Cabinet approves measures to support small businesses', (
        "The cabinet on Tuesday approved a package of measures to support small and medium-sized "
        "enterprises, including soft loans through state banks and a reduction of fees for "
        "registering new businesses.\n\n"
        "The government spokesperson said the measures were expected to help more than one hundred "
        "thousand businesses recover from the economic slowdown and to create jobs in the provinces.\n\n"
        "The finance ministry will publish the details of the loan programme next week."
    )),
    ('otop-fair', 'OTOP fair draws record crowds in Bangkok', (
        "The annual OTOP fair, which showcases products from local communities across Thailand, drew "
        "more than two hundred thousand visitors over five days, organisers said.\n\n"
        "Sales of silk, handicrafts and processed food reached a record high, and many producers "
        "received new orders from hotels and department stores.\n\n"
        "The community development department plans to hold regional fairs in Chiang Mai, Khon Kaen "
        "and Songkhla later this year."
    )),
    ('flood-relief', 'Government steps up flood relief in the north-east', (
        "Soldiers and volunteers were sent to help residents in several north-eastern provinces after"
        " heavy rain caused rivers to overflow.\n\n"
        "The interior ministry said emergency funds had been released to provincial governors so that"
        " families could receive food, drinking water and temporary shelter.\n\n"
        "Officials urged residents in low-lying areas to follow warnings from the meteorological "
        "department."
    )),
    ('education-reform', 'New scholarships for vocational students', (
        "The education ministry announced a new scholarship scheme for vocational students who train "
        "in industries facing labour shortages, such as electronics, logistics and tourism.\n\n"
        "Students will receive a monthly allowance and a guaranteed internship with partner "
        "companies.\n\n"
        "Applications open next month at vocational colleges nationwide."
    )),
]

FIRST = ["สมชาย", "สมหญิง", "วิชัย", "สุภาพร", "ประเสริฐ", "กมลวรรณ", "ธนากร", "นภัสสร", "อนุชา", "พิมพ์ชนก", "ชัยวัฒน์", "ศิริพร"]
LAST = ["ใจดี", "รักไทย", "ศรีสุข", "บุญมา", "ทองคำ", "แก้วใส", "มีสุข", "พานิช", "วงศ์ใหญ่", "สายทอง"]
EMAIL_USERS = ["somchai.j", "somying.r", "wichai.s", "supaporn.b", "prasert.t", "kamolwan.k", "thanakorn.m", "napatsorn.p"]
EMAIL_DOMAINS = ["gmail.com", "hotmail.com", "yahoo.co.th", "thainewstoday.example", "mail.go.th.example"]

PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]/Contents 4 0 R/Resources<<>>>>endobj\n"
       b"4 0 obj<</Length 44>>stream\nBT /F1 12 Tf 20 50 Td (Budget report) Tj ET\nendstream endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA0JCgsKCA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZGNywtQFdBRkxOUlNSMj5a"
    "YVpQYEpRUk//2wBDAQ4ODhMREyYVFSZPNS01T09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT0//wAARCAAQ"
    "ABgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJx"
    "FDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWW"
    "l5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAEC"
    "AwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2"
    "Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU"
    "1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDDooorhPsAooooA//Z")
CSS = "body{font-family:sans-serif;margin:0}nav a{margin:0 .5em}.ad{border:1px solid #ccc;padding:4px}\n"


def thai_id(rng: random.Random, valid: bool) -> str:
    """A 13-digit Thai national ID, formatted X-XXXX-XXXXX-XX-X; ``valid`` decides the check digit."""
    d = [rng.choice("1358")] + [str(rng.randint(0, 9)) for _ in range(11)]
    check = (11 - sum(int(x) * (13 - i) for i, x in enumerate(d)) % 11) % 10
    if not valid:
        check = (check + rng.randint(1, 9)) % 10
    s = "".join(d) + str(check)
    return f"{s[0]}-{s[1:5]}-{s[5:10]}-{s[10:12]}-{s[12]}"


def thai_phone(rng: random.Random, kind: int) -> str:
    if kind == 0:
        return f"08{rng.randint(0, 9)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if kind == 1:
        return f"02-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if kind == 2:
        return f"+66 {rng.choice('689')}{rng.randint(1, 9)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    return f"09{rng.randint(0, 9)}{rng.randint(1000000, 9999999)}"


def esc(s: str) -> str:
    return html.escape(s, quote=True)


def clean_title(t: str) -> str:
    t = t.replace("\ufeff", "").strip()
    t = re.sub(r"^รัฐบาลไทย-[^-]+-", "", t)
    return re.sub(r"\s+", " ", t).strip()


def clean_body(text: str, title: str, limit: int = BODY_CHARS) -> list[str]:
    lines = [re.sub(r"[\s\u200b\xa0]+", " ", ln).strip() for ln in text.replace("\ufeff", "").splitlines()]
    lines = [ln for ln in lines if ln and ln != title and not ln.startswith("ที่มา") and "http" not in ln]
    out, n = [], 0
    for ln in lines:
        if n + len(ln) > limit and out:
            break
        out.append(ln)
        n += len(ln)
    return out


class Site:
    def __init__(self, data: Path, out: Path):
        self.data, self.out = data, out
        self.rng = random.Random(SEED)
        self.manifest: dict[str, list] = {"articles": [], "syndicated": [], "spam": [], "english": [], "pii": [],
                                          "disallowed": [], "non_html": [], "oversized": [], "tis620": [],
                                          "broken": [], "listing": []}
        self.comments = self._comments()

    # -- inputs -----------------------------------------------------------------------------------
    def _comments(self) -> list[str]:
        out = []
        for name in ("pos.txt", "neu.txt", "neg.txt"):
            for ln in (self.data / "wisesight" / name).read_text(encoding="utf-8").splitlines():
                ln = ln.strip()
                if 25 <= len(ln) <= 160 and "http" not in ln and "@" not in ln and not re.search(r"\d{6,}", ln):
                    out.append(ln)
        self.rng.shuffle(out)
        return out[:2000]

    def load_articles(self) -> list[dict]:
        rows = [json.loads(ln) for ln in (self.data / "thaigov-news.jsonl").read_text(encoding="utf-8").splitlines()]
        self.all_rows = rows
        picked = rows[:N_ARTICLES]
        arts = []
        for i, r in enumerate(picked):
            label = r["id"].split("/", 1)[1].rsplit("_", 1)[0]
            slug, cname = CATEGORIES.get(label, OTHER)
            title = clean_title(r["title"])
            body = clean_body(r["text"], title)
            date = body[0] if body and body[0].startswith("วัน") else ""
            if date:
                body = body[1:]
            arts.append({"n": i, "id": r["id"], "title": title, "date": date, "body": body, "cat": slug,
                         "cname": cname, "url": f"/news/{slug}/{i:04d}.html"})
        return arts

    # -- boilerplate ------------------------------------------------------------------------------
    def nav(self) -> str:
        cats = [CATEGORIES[k] for k in CATEGORIES] + [OTHER]
        links = "".join(f'<li><a href="/news/{s}/index.html">{esc(n)}</a></li>' for s, n in cats)
        return (f'<header class="site-header"><div class="logo"><a href="/index.html">{SITE_NAME}</a></div>'
                f'<nav class="main-nav"><ul><li><a href="/index.html">หน้าแรก</a></li>{links}'
                '<li><a href="/en/index.html">English</a></li><li><a href="/contact.html">ติดต่อเรา</a></li>'
                '</ul></nav><form class="search" action="/search"><input name="q" placeholder="ค้นหาข่าว">'
                '<button>ค้นหา</button></form></header>')

    def footer(self) -> str:
        return ('<footer class="site-footer"><div class="cols"><div><h4>เกี่ยวกับเรา</h4><ul>'
                '<li><a href="/about.html">เกี่ยวกับเว็บไซต์</a></li><li><a href="/contact.html">ติดต่อโฆษณา</a></li>'
                '<li><a href="/directory/index.html">สมุดรายชื่อผู้ประสานงาน</a></li></ul></div>'
                '<div><h4>บริการ</h4><ul><li><a href="/archive/all.html">คลังข่าวทั้งหมด (หน้าเดียว)</a></li>'
                '<li><a href="/legacy/tis620.html">ข่าวเก่า (ระบบเดิม)</a></li>'
                '<li><a href="/files/annual-report-2559.pdf">รายงานประจำปี (PDF)</a></li>'
                '<li><a href="/admin/index.html">สำหรับเจ้าหน้าที่</a></li></ul></div></div>'
                f'<p class="copy">© 2559 {SITE_NAME} สงวนลิขสิทธิ์ | นโยบายความเป็นส่วนตัว | เว็บไซต์นี้ใช้คุกกี้เพื่อพัฒนาประสบการณ์ของผู้ใช้</p>'
                '<div class="social">ติดตามเรา: Facebook | Twitter | LINE | YouTube</div></footer>'
                '<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}'
                "gtag('js',new Date());</script>")

    def ad_box(self) -> str:
        promos = self.rng.sample(range(len(self.spam_titles)), 2)
        items = "".join(f'<li><a href="/promo/{k:02d}.html">{esc(self.spam_titles[k])}</a></li>' for k in promos)
        return f'<aside class="ad"><div class="ad-label">ลิงก์ผู้สนับสนุน</div><ul>{items}</ul></aside>'

    def sidebar(self, arts: list[dict]) -> str:
        pop = self.rng.sample(arts, 5)
        items = "".join(f'<li><a href="{a["url"]}">{esc(a["title"][:70])}</a></li>' for a in pop)
        return (f'<aside class="sidebar"><h3>ข่าวยอดนิยม</h3><ol>{items}</ol>{self.ad_box()}'
                '<div class="newsletter">รับข่าวสารทางอีเมล <input placeholder="อีเมลของคุณ"><button>สมัคร</button></div>'
                '</aside>')

    def comment_widget(self, k: int) -> str:
        rows = []
        for j in range(3 + k % 3):
            c = self.comments[(k * 7 + j) % len(self.comments)]
            who = f"{self.rng.choice(FIRST)}_{self.rng.randint(10, 99)}"
            rows.append(f'<li class="comment"><span class="user">{esc(who)}</span><p>{esc(c)}</p>'
                        '<span class="actions">ตอบกลับ · ถูกใจ</span></li>')
        if k % 4 == 0:  # a spam comment, as real comment boxes get
            p = self.rng.choice(SPAM_PHRASES)
            rows.append(f'<li class="comment"><span class="user">slot_{k}</span><p>{esc(p)} '
                        f'<a href="/promo/{k % len(self.spam_titles):02d}.html">คลิก</a></p></li>')
        return (f'<section class="comments"><h3>ความคิดเห็น ({len(rows)})</h3><ul>{"".join(rows)}</ul>'
                '<form class="comment-form"><textarea placeholder="แสดงความคิดเห็น"></textarea>'
                '<button>ส่งความคิดเห็น</button></form></section>')

    def page(self, title: str, main: str, arts: list[dict], lang: str = "th", charset: str = "utf-8",
             sidebar: bool = True) -> str:
        side = self.sidebar(arts) if sidebar else ""
        return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="{charset}">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)} | '
                f'{SITE_NAME}</title><link rel="stylesheet" href="/static/site.css"></head><body>'
                f'{self.nav()}<div class="container"><main>{main}</main>{side}</div>{self.footer()}</body></html>\n')

    def write(self, rel: str, text: str | bytes, encoding: str = "utf-8") -> None:
        p = self.out / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))

    # -- pages ------------------------------------------------------------------------------------
    def article_html(self, a: dict, arts: list[dict], related: list[dict]) -> str:
        paras = "".join(f"<p>{esc(p)}</p>" for p in a["body"])
        extra = ""
        if a["n"] % 30 == 3:
            extra = '<p class="attach">เอกสารแนบ: <a href="/files/annual-report-2559.pdf">รายงาน (PDF)</a></p>'
        if a["n"] % 30 == 7:
            extra = '<figure><a href="/files/photo-0001.jpg">ดูภาพขนาดเต็ม</a></figure>'
        if a["n"] == 11:
            extra = '<p>อ่านประกอบ: <a href="/news/old-link-removed.html">ข่าวที่เกี่ยวข้อง</a></p>'  # 404
        rel = "".join(f'<li><a href="{r["url"]}">{esc(r["title"][:80])}</a></li>' for r in related)
        main = (f'<div class="breadcrumb"><a href="/index.html">หน้าแรก</a> › '
                f'<a href="/news/{a["cat"]}/index.html">{esc(a["cname"])}</a></div>'
                f'<article><h1>{esc(a["title"])}</h1><div class="meta">{esc(a["date"])} · โดย กองบรรณาธิการ</div>'
                f'<div class="share">แชร์: <a href="https://www.facebook.com/sharer/sharer.php?u=https://thainewstoday.example{a["url"]}">Facebook</a> '
                f'<a href="https://twitter.com/intent/tweet?url=https://thainewstoday.example{a["url"]}">X</a> LINE</div>'
                f'<div class="article-body">{paras}</div>{extra}'
                f'<div class="tags">แท็ก: {esc(a["cname"])} · ข่าวรัฐบาล</div></article>'
                f'<section class="related"><h3>ข่าวที่เกี่ยวข้อง</h3><ul>{rel}</ul></section>'
                f'{self.comment_widget(a["n"])}')
        return self.page(a["title"], main, arts)

    def listing(self, arts: list[dict], all_arts: list[dict], slug: str, cname: str) -> None:
        pages = [arts[i:i + PER_PAGE] for i in range(0, len(arts), PER_PAGE)] or [[]]
        for k, chunk in enumerate(pages, 1):
            name = "index.html" if k == 1 else f"page-{k}.html"
            items = "".join(f'<li><a href="{a["url"]}">{esc(a["title"])}</a><p>{esc(" ".join(a["body"])[:120])}…</p></li>'
                            for a in chunk)
            nums = " ".join(f'<a href="/news/{slug}/{"index.html" if j == 1 else f"page-{j}.html"}">{j}</a>'
                            for j in range(1, len(pages) + 1))
            main = (f'<h1>หมวด{esc(cname)}</h1><ul class="list">{items}</ul>'
                    f'<div class="pagination">หน้า {nums}</div>')
            self.write(f"/news/{slug}/{name}", self.page(f"หมวด{cname} หน้า {k}", main, all_arts))
            self.manifest["listing"].append(f"/news/{slug}/{name}")

    def build(self) -> None:
        if self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True)
        self.spam_titles = [f"{SPAM_PHRASES[k % len(SPAM_PHRASES)]}" for k in range(12)]
        arts = self.load_articles()
        by_cat: dict[str, list[dict]] = {}
        for a in arts:
            by_cat.setdefault(a["cat"], []).append(a)
        for a in arts:
            same = by_cat[a["cat"]]
            i = same.index(a)
            related = [same[(i + d) % len(same)] for d in (1, 2, 3) if len(same) > 1]
            self.write(a["url"], self.article_html(a, arts, related))
            self.manifest["articles"].append({"url": a["url"], "source_id": a["id"], "title": a["title"]})
        cats = [*CATEGORIES.values(), OTHER]
        for slug, cname in cats:
            self.listing(by_cat.get(slug, []), arts, slug, cname)
        self.home(arts, cats)
        self.syndicated(arts)
        self.spam(arts)
        self.english(arts)
        self.pii(arts)
        self.admin(arts)
        self.tis620(arts)
        self.oversized()
        self.write("/files/annual-report-2559.pdf", PDF)
        self.write("/files/photo-0001.jpg", JPEG)
        self.write("/static/site.css", CSS)
        self.manifest["non_html"] = ["/files/annual-report-2559.pdf", "/files/photo-0001.jpg"]
        self.manifest["broken"] = ["/news/old-link-removed.html"]
        self.write("/robots.txt", "# robots.txt for the langadapt sample site\nUser-agent: *\nDisallow: /admin/\n"
                                  "Disallow: /search\n")
        (HERE / "site-manifest.json").write_text(json.dumps(self.manifest, ensure_ascii=False, indent=1) + "\n",
                                                 encoding="utf-8")

    def home(self, arts: list[dict], cats: list[tuple[str, str]]) -> None:
        latest = "".join(f'<li><a href="{a["url"]}">{esc(a["title"])}</a></li>' for a in arts[:15])
        blocks = "".join(f'<section><h2><a href="/news/{s}/index.html">{esc(n)}</a></h2></section>' for s, n in cats)
        main = (f'<h1>{SITE_NAME}</h1><section class="latest"><h2>ข่าวล่าสุด</h2><ul>{latest}</ul></section>{blocks}'
                '<section><h2>ข่าวจากพันธมิตร</h2><a href="/partner/index.html">เครือข่ายข่าวภูมิภาค</a></section>')
        self.write("/index.html", self.page(SITE_NAME, main, arts))

    def syndicated(self, arts: list[dict]) -> None:
        """Partner copies: 5 exact (same text) and 15 near duplicates (small edits), other boilerplate."""
        picks = [a for a in arts if len(" ".join(a["body"])) > 800][:20]
        items = []
        for k, a in enumerate(picks):
            body = list(a["body"])
            kind = "exact" if k < 5 else "near"
            if kind == "near":
                body[0] = "(ข่าวจากรัฐบาลไทย) " + body[0]
                if len(body) > 3:
                    del body[-2]
                body.append("ติดตามข่าวสารเพิ่มเติมได้ที่เครือข่ายข่าวภูมิภาค")
            url = f"/partner/{k:03d}.html"
            paras = "".join(f"<p>{esc(p)}</p>" for p in body)
            doc = ('<!DOCTYPE html>\n<html lang="th"><head><meta charset="utf-8"><title>'
                   f'{esc(a["title"])} - เครือข่ายข่าวภูมิภาค</title></head><body>'
                   '<div id="top"><b>เครือข่ายข่าวภูมิภาค</b> | <a href="/partner/index.html">ข่าวพันธมิตร</a> | '
                   '<a href="/index.html">กลับหน้าหลัก</a></div>'
                   f'<div id="content"><h2>{esc(a["title"])}</h2><small>{esc(a["date"])} ที่มา: {SITE_NAME}</small>'
                   f'{paras}</div><div id="ads">{self.ad_box()}</div>'
                   '<div id="bottom">สงวนลิขสิทธิ์ เครือข่ายข่าวภูมิภาค ห้ามคัดลอกโดยไม่ได้รับอนุญาต</div></body></html>\n')
            self.write(url, doc)
            items.append(f'<li><a href="{url}">{esc(a["title"][:80])}</a></li>')
            self.manifest["syndicated"].append({"url": url, "original": a["url"], "kind": kind})
        self.write("/partner/index.html", self.page("ข่าวพันธมิตร", f"<h1>ข่าวจากพันธมิตร</h1><ul>{''.join(items)}</ul>",
                                                    arts))

    def spam(self, arts: list[dict]) -> None:
        for k, title in enumerate(self.spam_titles):
            r = random.Random(SEED + k)
            paras = []
            for _ in range(6):
                words = r.sample(SPAM_PHRASES, 4) + [r.choice(SPAM_TAILS).format(n=r.randint(100, 999))]
                paras.append(" ".join(words))
            kw = " ".join(r.sample(["บาคาร่า", "สล็อต", "เว็บตรง", "แทงบอล", "คาสิโน", "เครดิตฟรี", "ฝากถอนไม่มีขั้นต่ำ",
                                    "หวยออนไลน์", "ยูฟ่าเบท"], 6))
            main = (f'<h1>{esc(title)}</h1>' + "".join(f"<p>{esc(p)}</p>" for p in paras) +
                    f'<p class="kw">{esc(kw)} {esc(kw)} {esc(kw)}</p>'
                    f'<p><a href="/promo/{(k + 1) % len(self.spam_titles):02d}.html">โปรโมชั่นถัดไป</a></p>')
            self.write(f"/promo/{k:02d}.html", self.page(title, main, arts, sidebar=False))
            self.manifest["spam"].append(f"/promo/{k:02d}.html")

    def english(self, arts: list[dict]) -> None:
        links = "".join(f'<li><a href="/en/{slug}.html">{esc(t)}</a></li>' for slug, t, _ in EN_PAGES)
        for slug, title, text in EN_PAGES:
            paras = text.split("\n\n")
            main = f"<article><h1>{esc(title)}</h1>" + "".join(f"<p>{esc(p)}</p>" for p in paras) + "</article>"
            doc = self.page(title, main + f"<h3>More in English</h3><ul>{links}</ul>", arts, lang="en")
            self.write(f"/en/{slug}.html", doc)
            self.manifest["english"].append(f"/en/{slug}.html")
        self.write("/en/index.html", self.page(SITE_EN, f"<h1>{SITE_EN}: English section</h1><ul>{links}</ul>",
                                               arts, lang="en"))

    def pii(self, arts: list[dict]) -> None:
        r = random.Random(SEED + 99)
        entries = []
        rows_by_page: list[list[str]] = [[] for _ in range(6)]
        for k in range(36):
            name = f"{r.choice(FIRST)} {r.choice(LAST)}"
            email = f"{EMAIL_USERS[k % len(EMAIL_USERS)]}{k}@{EMAIL_DOMAINS[k % len(EMAIL_DOMAINS)]}"
            phone = thai_phone(r, k % 4)
            valid = k % 3 != 2
            nid = thai_id(r, valid)
            entries.append({"page": f"/directory/{k % 6:02d}.html", "name": name, "email": email, "phone": phone,
                            "national_id": nid, "national_id_valid": valid})
            rows_by_page[k % 6].append(
                f"<p>คุณ{esc(name)} ผู้ประสานงานประจำจังหวัด ติดต่อได้ที่อีเมล {esc(email)} หรือโทร {esc(phone)} "
                f"(เลขประจำตัวประชาชน {nid}) ในวันและเวลาราชการ เพื่อสอบถามรายละเอียดโครงการของหน่วยงาน"
                f"และการลงทะเบียนเข้าร่วมกิจกรรมในพื้นที่</p>")
        idx = []
        for k, rows in enumerate(rows_by_page):
            url = f"/directory/{k:02d}.html"
            main = (f"<h1>รายชื่อผู้ประสานงาน ชุดที่ {k + 1}</h1><p>หน่วยงานได้เผยแพร่รายชื่อผู้ประสานงานโครงการ"
                    f"ประจำจังหวัดเพื่อให้ประชาชนสามารถติดต่อสอบถามข้อมูลได้สะดวกยิ่งขึ้น</p>{''.join(rows)}")
            self.write(url, self.page(f"รายชื่อผู้ประสานงาน {k + 1}", main, arts))
            idx.append(f'<li><a href="{url}">ชุดที่ {k + 1}</a></li>')
        self.write("/directory/index.html", self.page("สมุดรายชื่อ", f"<h1>สมุดรายชื่อผู้ประสานงาน</h1><ul>{''.join(idx)}</ul>", arts))
        contact = {"page": "/contact.html", "email": "editor@thainewstoday.example", "phone": "02-123-4567",
                   "phone2": "+66 81 234 5678"}
        self.write("/contact.html", self.page("ติดต่อเรา", (
            "<h1>ติดต่อกองบรรณาธิการ</h1><p>ส่งข่าวหรือแจ้งข้อผิดพลาดได้ที่อีเมล editor@thainewstoday.example "
            "โทรศัพท์ 02-123-4567 หรือโทรศัพท์มือถือ +66 81 234 5678 ในวันจันทร์ถึงวันศุกร์ เวลา 08.30 - 16.30 น.</p>"
            "<p>ติดต่อโฆษณา: ads@thainewstoday.example โทร 089-765-4321</p>"), arts))
        self.write("/about.html", self.page("เกี่ยวกับเรา", (
            f"<h1>เกี่ยวกับ{SITE_NAME}</h1><p>{SITE_NAME} เป็นเว็บไซต์ตัวอย่างสำหรับทดสอบระบบเก็บข้อมูลเว็บ "
            "เนื้อหาข่าวมาจากข่าวประชาสัมพันธ์ของรัฐบาลไทยซึ่งเป็นสาธารณสมบัติ ชื่อ ที่อยู่ หมายเลขโทรศัพท์ "
            "และเลขประจำตัวประชาชนทั้งหมดในเว็บไซต์นี้เป็นข้อมูลสมมติ</p>"), arts))
        self.manifest["pii"] = entries + [contact]

    def admin(self, arts: list[dict]) -> None:
        for name, body in (("index.html", ('<h1>ระบบหลังบ้าน</h1><p>สำหรับเจ้าหน้าที่เท่านั้น</p>'
                                           '<a href="/admin/drafts.html">ร่างข่าว</a>')),
                           ("drafts.html", "<h1>ร่างข่าวที่ยังไม่เผยแพร่</h1><p>ร่างข่าว: ห้ามเผยแพร่ก่อนได้รับอนุมัติ</p>")):
            self.write(f"/admin/{name}", self.page("ระบบหลังบ้าน", body, arts, sidebar=False))
            self.manifest["disallowed"].append(f"/admin/{name}")

    def tis620(self, arts: list[dict]) -> None:
        a = next(x for x in arts if len(" ".join(x["body"])) > 1000)
        trans = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "…": "...", "●": "*",
                               "•": "*"})

        def enc_ok(s: str) -> str:
            s = s.translate(trans)
            return "".join(ch for ch in s if ch.encode("tis-620", errors="ignore") or ch in "\n")

        paras = "".join(f"<p>{esc(enc_ok(p))}</p>" for p in a["body"])
        title = enc_ok(a["title"])
        doc = ('<!DOCTYPE html>\n<html lang="th"><head><meta charset="tis-620">'
               '<meta http-equiv="Content-Type" content="text/html; charset=tis-620">'
               f'<title>{esc(title)} - ข่าวเก่า</title></head><body>'
               '<table width="100%"><tr><td><a href="/index.html">หน้าแรก</a> | ระบบข่าวเก่า (พ.ศ. 2545)</td></tr></table>'
               f'<h1>{esc(title)}</h1>{paras}<hr><p><small>หน้านี้เข้ารหัสแบบ TIS-620 (ระบบเดิม)</small></p>'
               '</body></html>\n')
        self.write("/legacy/tis620.html", doc, encoding="tis-620")
        self.manifest["tis620"] = [{"url": "/legacy/tis620.html", "title": title, "first_paragraph": enc_ok(a["body"][0])}]

    def oversized(self) -> None:
        """All 966 articles on one page: over 1 MiB, so the crawler skips it (too_large)."""
        parts = [('<!DOCTYPE html>\n<html lang="th"><head><meta charset="utf-8"><title>คลังข่าวทั้งหมด</title>'
                  '</head><body><h1>คลังข่าวทั้งหมด</h1>')]
        for r in self.all_rows:
            t = clean_title(r["title"])
            body = " ".join(clean_body(r["text"], t, 620))
            parts.append(f"<h2>{esc(t)}</h2><p>{esc(body)}</p>")
        parts.append("</body></html>\n")
        self.write("/archive/all.html", "".join(parts))
        self.manifest["oversized"] = ["/archive/all.html"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "th",
                    help="directory with thaigov-news.jsonl and wisesight/ (default ../shared/data/th)")
    ap.add_argument("--out", type=Path, default=HERE / "site")
    a = ap.parse_args()
    if not (a.data / "thaigov-news.jsonl").exists():
        raise SystemExit(f"error: {a.data / 'thaigov-news.jsonl'}: not found (needs ../shared/data beside the repo)")
    Site(a.data, a.out).build()
    files = [p for p in a.out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    print(f"build_site: {len(files)} files, {size / 1e6:.2f} MB under {a.out}")


if __name__ == "__main__":
    main()
