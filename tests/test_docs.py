"""README and CLI documentation stay true: the two commands, the Python example, --help."""

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from anomalykit.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def fenced_blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_exactly_two_commands_and_ci_runs_the_second():
    assert README.startswith("# anomalykit\n\n```bash\n")  # the title, then the commands
    first_block = README.split("```")[1]
    commands = [line for line in first_block.splitlines()[1:] if line.strip()]
    assert len(commands) == 2
    assert commands[0].startswith("python3.11 -m venv .venv") and "anomalykit demo" in commands[0]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()


@pytest.mark.parametrize("index", range(len(fenced_blocks("python"))))
def test_readme_python_examples_run_and_print_what_they_say(capsys, index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write files: keep them out of the repository
    code = fenced_blocks("python")[index]
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    promised = re.findall(r"print\(.*\)  # ((?:test F1|\d+ K=)[^\n]*)", code)
    assert promised, "each example states some of what it prints"
    for text in promised:
        assert text in out


@pytest.mark.parametrize("name", sorted(get_command(app).commands))
def test_every_command_has_help_with_an_example_and_is_in_readme(name):
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.stdout and f"anomalykit {name} " in result.stdout
    assert f"anomalykit {name} " in README
    # every exit code the command can give, the internal error (3) included
    text = " ".join(result.stdout.split())
    assert "Exit codes: 0 ran" in text and "3 internal error" in text
