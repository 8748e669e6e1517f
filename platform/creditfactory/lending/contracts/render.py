"""Contract templates per product: Jinja2 → a small HTML subset → PDF with fpdf2 and an embedded CJK font.

Templates live in ``templates/contracts/pdf/``: ``<product code>.<lang>.html`` if the product has its own, else
``default.<lang>.html``. The template's id is its file name and its version the SHA-256 of its source, so a
contract records exactly which text it was rendered from. fpdf2's ``write_html`` understands headings,
paragraphs, bold, line breaks and simple tables, which is what a loan contract needs.

The font is WenQuanYi Micro Hei (Debian ``fonts-wqy-microhei``; CI and the Dockerfile install it), embedded
(subset) into every PDF so the contract reads the same anywhere. ``CREDITFACTORY_CONTRACT_FONT`` names another
TrueType/OpenType file (e.g. Noto Sans CJK) if the bank prefers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any

import jinja2
from fpdf import FPDF

from ...errors import DomainError

TEMPLATE_DIR = Path(__file__).parent / "templates" / "contracts" / "pdf"
FONT_CANDIDATES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                   "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
LANGUAGES = ("zh", "en")

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                          undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


class RenderError(DomainError):
    """The contract cannot be rendered (no template, no font)."""


def font_path() -> str:
    configured = os.environ.get("CREDITFACTORY_CONTRACT_FONT")
    for candidate in ((configured,) if configured else FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    raise RenderError("no CJK font for contracts: install fonts-wqy-microhei or set CREDITFACTORY_CONTRACT_FONT")


def template_for(product_code: str, language: str) -> tuple[str, str, jinja2.Template]:
    """``(template id, version = SHA-256 of its source, template)`` for a product in ``language``."""
    if language not in LANGUAGES:
        raise RenderError(f"language must be one of {', '.join(LANGUAGES)}")
    for name in (f"{product_code}.{language}.html", f"default.{language}.html"):
        path = TEMPLATE_DIR / name
        if path.is_file():
            source = path.read_bytes()
            return name, hashlib.sha256(source).hexdigest(), _env.get_template(name)
    raise RenderError(f"no contract template for product {product_code!r} in {language}")


def render_pdf(template: jinja2.Template, context: dict[str, Any], *, created: dt.datetime) -> bytes:
    """The PDF bytes. ``created`` is written as the document's creation date (so a re-render is identical)."""
    html = template.render(**context)
    pdf = FPDF(format="A4")
    pdf.set_creation_date(created)
    pdf.set_title(str(context.get("title", "")))
    font = font_path()
    options = {"collection_font_number": 0} if font.endswith(".ttc") else {}
    for style in ("", "B", "I", "BI"):  # one face serves every style: CJK fonts rarely ship bold/italic
        pdf.add_font("cjk", style, font, **options)
    pdf.add_page()
    pdf.set_font("cjk", size=10.5)
    pdf.write_html(html, font_family="cjk")
    return bytes(pdf.output())
