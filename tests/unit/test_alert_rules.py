"""The Prometheus alert rules the package ships (packaging/prometheus/), checked by
promtool: the rules parse, behave as tests/prometheus/ucvd-alerts.test.yml says, and the
example scrape configuration loads them. promtool is Debian's `prometheus` package, which
`make deps` installs; without it these tests fail rather than skip, so that CI cannot pass
without having run them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.harness.promtool import promtool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "packaging" / "prometheus" / "ucvd-alerts.yml"
EXAMPLE = ROOT / "packaging" / "prometheus" / "prometheus.example.yml"
RULE_TESTS = ROOT / "tests" / "prometheus" / "ucvd-alerts.test.yml"
README = ROOT / "README.md"

ALERT = re.compile(r"^      - alert: (\w+)$", re.MULTILINE)
# The example's optional bearer-token block, commented out as shipped.
TOKEN_LINES = re.compile(r"^(\s+)# (authorization:|  credentials_file: \S+)$", re.MULTILINE)


def alert_names() -> list[str]:
    return ALERT.findall(RULES.read_text())


def test_the_rules_are_valid() -> None:
    output = promtool("check", "rules", RULES)
    assert f"SUCCESS: {len(alert_names())} rules found" in output, output


def test_the_rules_pass_their_unit_tests() -> None:
    promtool("test", "rules", RULE_TESTS)


def test_every_alert_is_tested_firing_and_silent() -> None:
    """A case where it fires and one where it must not, for each alert: promtool itself
    only runs the cases there are."""
    firing: set[str] = set()
    silent: set[str] = set()
    lines = RULE_TESTS.read_text().splitlines()
    for i, line in enumerate(lines):
        if m := re.match(r"^\s+alertname: (\w+)$", line):
            expected = lines[i + 1].strip()
            (silent if expected == "exp_alerts: []" else firing).add(m[1])
            assert expected in ("exp_alerts: []", "exp_alerts:"), lines[i + 1]
    names = set(alert_names())
    assert len(names) >= 7
    assert names - firing == set(), "never tested firing"
    assert names - silent == set(), "never tested silent"


def test_every_alert_says_how_long_how_bad_and_why() -> None:
    blocks = re.split(r"^      - alert: ", RULES.read_text(), flags=re.MULTILINE)[1:]
    assert len(blocks) == len(alert_names())
    for block in blocks:
        name = block.split("\n", 1)[0]
        assert re.search(r"^        for: \d+m$", block, re.MULTILINE), name
        assert re.search(r"^          severity: (warning|critical)$", block, re.MULTILINE), name
        assert re.search(r"^          summary: \S", block, re.MULTILINE), name
        assert re.search(r"^          description: \S", block, re.MULTILINE), name
        # The scrape job the README and the example configuration tell operators to use.
        assert 'job="ucvd"' in block, name


def test_the_example_configuration_loads_the_rules() -> None:
    """rule_files names the rules by a relative path, resolved next to the example, as it
    is installed in /usr/share/ucvd/prometheus/."""
    output = promtool("check", "config", EXAMPLE)
    assert "SUCCESS: 1 rule files found" in output, output
    assert f"SUCCESS: {len(alert_names())} rules found" in output, output


def test_the_example_s_bearer_token_block_is_valid_once_uncommented(tmp_path: Path) -> None:
    token = tmp_path / "ucvd-web.token"
    token.write_text("not-a-real-token\n")
    text, uncommented = TOKEN_LINES.subn(r"\1\2", EXAMPLE.read_text())
    assert uncommented == 2, "the example's commented authorization block changed"
    text = re.sub(r"credentials_file: \S+", f"credentials_file: {token}", text)
    (tmp_path / "prometheus.yml").write_text(text)
    shutil.copy(RULES, tmp_path / RULES.name)
    promtool("check", "config", tmp_path / "prometheus.yml")


def test_the_readme_lists_every_alert() -> None:
    readme = README.read_text()
    for name in alert_names():
        assert f"`{name}`" in readme, name
