"""dvc.yaml's src/ deps equal what each stage's command imports (langadapt.orchestration.depcheck).

    .venv/bin/pytest -q tests/test_depcheck.py          # a few seconds, no stage runs

If test_repo_dvc_yaml_deps_match_imports fails, run `langadapt dvc-deps --write` and commit dvc.yaml.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from typer.testing import CliRunner

from langadapt.cli import app
from langadapt.orchestration.depcheck import SourceTree, check_report, derive, rewrite_deps, write

REPO = Path(__file__).resolve().parents[1]


def test_repo_dvc_yaml_deps_match_imports():
    results = derive(REPO, app=app)
    assert {r.stage for r in results} >= {"extract", "filter", "dedup", "cpt", "sft", "eval", "report"}
    assert check_report(results) == []
    by = {r.stage: r for r in results}
    # records.py and config.py: every stage reads params and writes records
    assert all("src/langadapt/config.py" in r.derived and "src/langadapt/records.py" in r.derived for r in results)
    # the extract command's module also holds crawl/filter/dedup: their bodies are not extract's deps
    assert "src/langadapt/corpus/dedup.py" not in by["extract"].derived
    assert "src/langadapt/corpus/crawl" not in by["extract"].derived
    assert "src/langadapt/train/trainer.py" not in by["tokenizer"].derived


def make_tree(root: Path) -> None:
    files = {
        "langadapt/__init__.py": "",
        "langadapt/pkg/__init__.py": "",
        "langadapt/pkg/a.py": "import json\n\ndef f():\n    from langadapt.pkg import b\n    return b\n",
        "langadapt/pkg/b.py": "from . import c\nfrom .c import thing\n",
        "langadapt/pkg/c.py": "from pathlib import Path\nD = Path(__file__).parent / 'res'\nthing = 1\n",
        "langadapt/pkg/res/x.yaml": "a: 1\n",
        "langadapt/pkg/other/y.yaml": "b: 2\n",
        "langadapt/pkg/unused.py": "import langadapt.pkg.a\n",
    }
    for rel, text in files.items():
        p = root / "src" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_closure_follows_function_level_and_relative_imports_and_named_data_dirs(tmp_path):
    make_tree(tmp_path)
    tree = SourceTree(tmp_path / "src")
    got = {p.relative_to(tmp_path / "src").as_posix() for p in tree.closure({"langadapt.pkg.a"})}
    assert got == {
        "langadapt/__init__.py",
        "langadapt/pkg/__init__.py",
        "langadapt/pkg/a.py",
        "langadapt/pkg/b.py",
        "langadapt/pkg/c.py",
        "langadapt/pkg/res/x.yaml",  # named by c.py; other/ is not
    }


DVC_YAML = textwrap.dedent("""\
    # top comment
    stages:
      one:
        cmd: langadapt one
        deps:
          - ${paths.raw}          # the snapshot
          - src/langadapt/keep.py  # kept, with its comment
          - src/langadapt/gone.py
          - data/other
        params:
          - seed
      two:
        cmd: langadapt two
        outs:
          - out
        deps:
          - ${paths.clean}

    plots:
      - deps:
          - src/not/a/stage.py
    """)


def test_rewrite_deps_keeps_comments_and_non_src_entries():
    new = rewrite_deps(DVC_YAML, {"one": ["src/langadapt/a.py", "src/langadapt/keep.py"],
                                  "two": ["src/langadapt/b"]})
    assert new == textwrap.dedent("""\
        # top comment
        stages:
          one:
            cmd: langadapt one
            deps:
              - ${paths.raw}          # the snapshot
              - src/langadapt/a.py
              - src/langadapt/keep.py  # kept, with its comment
              - data/other
            params:
              - seed
          two:
            cmd: langadapt two
            outs:
              - out
            deps:
              - ${paths.clean}
              - src/langadapt/b

        plots:
          - deps:
              - src/not/a/stage.py
        """)


def test_check_names_missing_and_extra_and_write_fixes_them(tmp_path):
    (tmp_path / "src").symlink_to(REPO / "src")
    text = (REPO / "dvc.yaml").read_text()
    assert "      - src/langadapt/corpus/langid.py\n" in text
    broken = text.replace("      - src/langadapt/corpus/langid.py\n", "", 1).replace(
        "      - src/langadapt/corpus/extract.py\n", "      - src/langadapt/corpus/extract.py\n"
        "      - src/langadapt/synth\n", 1)
    (tmp_path / "dvc.yaml").write_text(broken)
    res = CliRunner().invoke(app, ["dvc-deps", "--check", "--dvc-yaml", str(tmp_path / "dvc.yaml")])
    assert res.exit_code == 1
    lines = res.stdout.splitlines()
    assert "filter: missing src/langadapt/corpus/langid.py" in lines
    assert "extract: extra src/langadapt/synth/autoif.py" in lines
    assert not any(ln.startswith(("dedup", "eval")) for ln in lines)
    write(tmp_path, tmp_path / "dvc.yaml", app=app)
    assert (tmp_path / "dvc.yaml").read_text() == text
    res = CliRunner().invoke(app, ["dvc-deps", "--check", "--dvc-yaml", str(tmp_path / "dvc.yaml")])
    assert res.exit_code == 0, res.output
