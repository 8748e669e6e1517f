"""The head office publishes standard product templates from the console: the files waiting in
``tenants/_standard/products`` are listed, published by the product owner (audited as that person), and never twice."""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from creditfactory import settings as settings_module
from creditfactory.audit.models import SharedAuditEntry
from creditfactory.db import shared_session
from creditfactory.lending.products.models import ProductTemplate
from creditfactory.testing.staff import csrf_token
from test_console import HTML, logged_in, staff  # noqa: F401 - staff is a fixture

ROOT = Path(__file__).parents[1]


@pytest.fixture
def standard_folder(cf_settings, tmp_path):
    """A copy of the repository's tenants/ folder with one more, never published, template file."""
    folder = tmp_path / "tenants"
    shutil.copytree(ROOT / "tenants" / "_standard", folder / "_standard")
    code = f"tpl_{uuid.uuid4().hex[:8]}"
    document = yaml.safe_load((folder / "_standard" / "products" / "biz_operating.v1.yaml").read_text())
    document.update(code=code, name_zh="测试模板", name_en="Test template")
    (folder / "_standard" / "products" / f"{code}.v1.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
    settings_module.configure(dataclasses.replace(settings_module.get(), tenants_dir=str(folder)))
    yield code
    settings_module.configure(cf_settings)


def test_the_product_owner_publishes_the_waiting_templates_once(app, staff, standard_folder):
    code = standard_folder
    owner, authenticator = staff("head_office_product_owner")
    client = logged_in(app, owner, authenticator)
    page = client.get("/head-office/templates", headers=HTML)
    assert page.status_code == 200
    waiting = page.get_data(as_text=True)
    assert f"{code} v1" in waiting[waiting.index('id="waiting"'):]

    token = csrf_token(client, "/head-office/templates", HTML)  # the form is there while something waits
    publish = lambda: client.post("/head-office/templates/publication", headers=HTML,  # noqa: E731
                                  data={"csrf_token": token})
    done = publish()
    assert done.status_code == 303 and f"{code}+v1" in done.headers["Location"]
    after = client.get(done.headers["Location"], headers=HTML).get_data(as_text=True)
    assert f'id="template-{code}-1"' in after and 'id="waiting-none"' in after
    with shared_session() as shared:
        template = shared.scalar(select(ProductTemplate).where(ProductTemplate.code == code))
        assert template.source == f"file:_standard/products/{code}.v1.yaml"
        actors = shared.scalars(select(SharedAuditEntry.actor).where(
            SharedAuditEntry.action == "product_template.publish", SharedAuditEntry.object_id == f"{code}@1")).all()
    assert len(actors) == 1 and actors[0] != "system"

    again = publish()  # a second submit of the same form: nothing waits, nothing is published twice
    assert again.status_code == 303
    with shared_session() as shared:
        assert shared.scalar(select(ProductTemplate.id).where(ProductTemplate.code == code)) == template.id


def test_a_changed_published_version_is_refused_and_nothing_is_published(app, staff, standard_folder):
    code = standard_folder
    client = logged_in(app, *staff("head_office_product_owner"))
    token = csrf_token(client, "/head-office/templates", HTML)
    assert client.post("/head-office/templates/publication", headers=HTML,
                       data={"csrf_token": token}).status_code == 303
    path = Path(settings_module.get().tenants_dir) / "_standard" / "products" / f"{code}.v1.yaml"
    document = yaml.safe_load(path.read_text())
    document["name_en"] = "Changed after publication"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    page = client.get("/head-office/templates", headers=HTML).get_data(as_text=True)
    assert f"{code} v1" in page[page.index('id="changed"'):]  # shown as changed after publication, not waiting
    refused = client.post("/head-office/templates/publication", headers=HTML, data={"csrf_token": token})
    assert refused.status_code == 409 and "immutable" in refused.get_data(as_text=True)
    with shared_session() as shared:
        assert shared.scalar(select(ProductTemplate.name_en).where(ProductTemplate.code == code)) == "Test template"


def test_the_page_is_the_product_owners(app, staff):
    analyst = logged_in(app, *staff("benchmarking_analyst"))
    assert analyst.get("/head-office/templates", headers=HTML).status_code == 403
