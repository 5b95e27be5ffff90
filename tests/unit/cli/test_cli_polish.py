"""CLI polish: `interf new` (optional path, rigorous default), usage errors exit 2, plain --help, progress bars that
collapse when done, and library prints captured off stdout during a run."""

from __future__ import annotations

import io
import subprocess
import sys

from typer.testing import CliRunner

from interf_dsl.cli import app
from interf_dsl.execute.progress import RunProgress

runner = CliRunner()


def test_new_without_a_path_prints_a_rigorous_spec(tmp_path):
    result = runner.invoke(app, ["new", "--preset", "rigorous"])
    assert result.exit_code == 0, result.output
    assert "rigorous" in result.output and "experiment:" in result.output
    default = runner.invoke(app, ["new"])
    assert default.exit_code == 0 and "preset: rigorous" in default.output  # the README's default
    out = tmp_path / "s.yaml"
    out.write_text(default.output)
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0


def test_usage_errors_exit_2():
    for argv in (["plan"], ["new", "--bogus"], ["run", "--force"]):
        proc = subprocess.run([sys.executable, "-c", "from interf_dsl.cli import main; main()", *argv],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "internal error" not in proc.stderr


def test_help_has_no_type_placeholders_after_flags():
    for argv in (["--help"], ["new", "--help"], ["run", "--help"], ["plan", "--help"]):
        text = runner.invoke(app, argv).output
        assert "<bool>" not in text and "╭" not in text, text


def test_finished_bars_collapse_into_one_line():
    buf = io.StringIO()
    with RunProgress(quiet=False, out=buf) as progress:
        task = progress.task(3, "step a")
        for _ in range(3):
            task.advance()
        assert progress._rich.tasks == []  # the finished bar left the live area
    assert "step a: 3/3 in" in buf.getvalue()


def test_library_prints_are_logged_not_written_to_stdout(capsys):
    buf = io.StringIO()
    with RunProgress(quiet=True, out=buf):
        print("Moving model to device:  cpu")
        sys.stdout.write("partial")
    print("result line")
    assert "  (library) Moving model to device:  cpu" in buf.getvalue()
    assert "  (library) partial" in buf.getvalue()
    assert capsys.readouterr().out == "result line\n"
