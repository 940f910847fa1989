"""Sphinx configuration of skdeepcluster's documentation.

Build (warnings are errors, the gallery examples run)::

    python -m sphinx -W --keep-going -b html doc doc/_build/html
"""

import os
import re
import sys

import skdeepcluster

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

project = "skdeepcluster"
author = "skdeepcluster developers"
copyright = "2026, skdeepcluster developers"
release = version = skdeepcluster.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
html_theme = "pydata_sphinx_theme"
html_title = f"skdeepcluster {version}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2,
                      "secondary_sidebar_items": {"benchmarks": []}}
html_sidebars = {"benchmarks": [], "user_guide": [], "api": [], "index": []}
html_static_path = ["_static"]
html_css_files = ["custom.css"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False  # autosummary lists the members
numpydoc_class_members_toctree = False
# Docstring checks run on every documented object: a missing section or parameter is an
# error of the build (the build uses -W).
# (That every public class and function has an Examples section is a unit test:
# tests/test_docstrings.py.)
numpydoc_validation_checks = {"PR01", "PR02", "PR03", "PR10", "RT01", "GL02", "GL03",
                              "SS01"}
numpydoc_validation_exclude = {
    r"\.__init__$",
    # members inherited from scikit-learn's mixins keep scikit-learn's docstrings
    r"\.(get_params|set_params|fit_predict|fit_transform|get_metadata_routing|"
    r"set_output|set_fit_request|set_score_request|set_predict_request|"
    r"set_transform_request|get_feature_names_out)$",
    # torch's nn.Module machinery
    r"skdeepcluster\.nn\..*\.(forward|extra_repr)$",
}

sphinx_gallery_conf = {
    "examples_dirs": os.path.join(ROOT, "examples"),
    "gallery_dirs": "auto_examples",
    "backreferences_dir": os.path.join("generated", "backreferences"),
    "doc_module": ("skdeepcluster",),
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib", "seaborn"),
    "show_memory": False,
    "plot_gallery": "True",
}



# -- benchmark tables -------------------------------------------------------------------
def markdown_table_to_rst(lines):
    """A GitHub-style markdown pipe table (list of lines) as an rst ``list-table``."""
    rows = [[cell.strip().replace("`", "``") for cell in line.strip().strip("|").split("|")]
            for line in lines if not re.match(r"^\|\s*-", line.strip())]
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        out.append(f"   * - {row[0]}")
        out.extend(f"     - {cell}" for cell in row[1:])
    return out


def markdown_to_rst(text):
    """The small subset of markdown the benchmark result files use, as rst."""
    out, table, fenced = [], [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            out += ["::", ""] if fenced else [""]
            continue
        if fenced:
            out.append("    " + line)
            continue
        if line.lstrip().startswith("|"):
            table.append(line)
            continue
        if line.strip().startswith("<!--"):  # markers for the scripts, not for readers
            continue
        if table:
            out += markdown_table_to_rst(table) + [""]
            table = []
        line = re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", line)
        line = re.sub(r"\*\*([^*]+)\*\*", r"**\1**", line)
        if (line.startswith("- ") and out and out[-1].strip()
                and not out[-1].startswith(("- ", "  "))):
            out.append("")  # markdown lists may follow a paragraph directly, rst's not
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            out += [title, "~" * len(title)]
        else:
            out.append(line)
    if table:
        out += markdown_table_to_rst(table)
    return "\n".join(out) + "\n"


def write_benchmark_tables(app):
    """``benchmarks/results/*.md`` -> ``doc/generated/benchmark_tables/*.rst.txt``."""
    src = os.path.join(ROOT, "benchmarks", "results")
    dst = os.path.join(HERE, "generated", "benchmark_tables")
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        if name.endswith(".md"):
            with open(os.path.join(src, name)) as f:
                rst = markdown_to_rst(f.read())
            with open(os.path.join(dst, name[:-3] + ".rst.txt"), "w") as f:
                f.write(rst)


def setup(app):
    app.connect("builder-inited", write_benchmark_tables)
