"""The README's configuration reference and .env.example match the settings classes."""

from __future__ import annotations

import re

import pytest
import teach_support  # noqa: F401  (puts the `tools` package on sys.path)
from mtls.settings import TLSSettings
from orders.settings import OrdersSettings
from payments.settings import PaymentsSettings
from pydantic_settings import BaseSettings

from harness.processes import REPO
from tools import configdoc

README = (REPO / "README.md").read_text()
ENV_EXAMPLE = (REPO / ".env.example").read_text()


def test_readme_configuration_block_is_what_the_generator_produces() -> None:
    assert configdoc.stale_files(README, ENV_EXAMPLE) == [], "run `make config-doc`"


@pytest.mark.parametrize("settings", [TLSSettings, OrdersSettings, PaymentsSettings])
def test_every_setting_is_documented_with_its_default(settings: type[BaseSettings]) -> None:
    prefix = str(settings.model_config["env_prefix"])
    for name, field in settings.model_fields.items():
        variable = f"{prefix}{name}".upper()
        row = next(
            (line for line in README.splitlines() if line.startswith(f"| `{variable}` |")), ""
        )
        assert row, f"{variable} is missing from the README"
        assert field.description, f"{variable} needs a Field(description=...)"
        assert configdoc.markdown_text(field.description) in row
        assert f"# {variable}=" in ENV_EXAMPLE


def test_a_changed_default_or_a_removed_row_is_caught() -> None:
    drifted = README.replace(
        "| `MTLS_MIN_TLS_VERSION` | `1.3` |", "| `MTLS_MIN_TLS_VERSION` | `1.2` |"
    )
    assert drifted != README
    assert configdoc.stale_files(drifted, ENV_EXAMPLE) == ["README.md"]
    missing = "\n".join(line for line in README.splitlines() if "ORDERS_PORT" not in line)
    assert configdoc.stale_files(missing, ENV_EXAMPLE) == ["README.md"]
    assert configdoc.stale_files(README, ENV_EXAMPLE + "# MTLS_EXTRA=1\n") == [".env.example"]


def test_readme_gives_the_two_commands_and_the_test_command() -> None:
    assert "$ make up " in README
    assert "$ make demo " in README
    assert "$ make run " in README
    assert "$ make test\n" in README


def test_readme_code_links_point_at_files_that_exist() -> None:
    links = re.findall(r"\]\(((?:shared|services|certs|docs)/[^)#]+)\)", README)
    assert "shared/mtls/contexts.py" in links
    for link in links:
        if link.startswith("docs/") and link not in OWN_DOCS:
            continue  # written by others; listed so the README links them
        assert (REPO / link).exists(), link


OWN_DOCS = {"docs/workshop.md", "docs/troubleshooting.md", "docs/architecture.md"}
