"""Sphinx configuration of mlpcore's documentation site.

Build (from the repository root, with mlpcore and the ``docs`` extra installed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

``-W`` turns every warning into an error; the gallery (``examples/plot_*.py``) is executed
during the build and its figures are rendered into ``docs/auto_examples``.
"""

import re
import warnings

import mlpcore

project = "mlpcore"
author = "the mlpcore authors"
copyright = "the mlpcore authors"  # noqa: A001  (Sphinx's name)
version = release = mlpcore.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_design",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.py", "auto_examples/*.ipynb"]
templates_path = ["_templates"]
# ARCHITECTURE.md is a page of the site and, as docs/ARCHITECTURE.md, the repository's
# architecture note; both read the same file.

# ---- MyST (the Markdown pages) --------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3

# ---- autodoc / autosummary / numpydoc -------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc sections carry the types
autodoc_inherit_docstrings = True
# [source] links only for objects documented under the module that defines them: viewcode
# keys a module's back-links by the first name it saw it under, so mlpcore.SGD (re-exported)
# next to mlpcore.optimizers.Optimizer gave back-links to anchors that do not exist.
viewcode_follow_imported_members = False
numpydoc_show_class_members = False  # the class template lists them (no duplicate toctrees)
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
default_role = "code"  # `x` in a docstring is inline code, as in Markdown

# ---- sphinx-gallery (the lecture) -----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Only plot_*.py are gallery pages (and executed); other scripts in examples/ are skipped.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(^|/)(?!plot_)[^/]+\.py$",  # matched against the file name
    "within_subsection_order": "FileNameSortKey",  # plot_01_..., plot_02_...: lecture order
    "doc_module": ("mlpcore",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"mlpcore": None},  # code in the pages links to the API reference
    "download_all_examples": True,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 0,
    # each page ends with its own running time; the summary page loads jQuery and DataTables
    # from CDNs, which a site read offline cannot reach
    "write_computation_times": False,
    # a page shows what its script prints, not the repr of a cell's last expression (an
    # `ax.legend(...)` ending a cell would show "<matplotlib.legend.Legend object at 0x...>")
    "capture_repr": (),
}
# sphinx-gallery runs the examples with the Agg backend; silence matplotlib's notice about it.
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")

# ---- HTML -----------------------------------------------------------------------------------
# pydata-sphinx-theme rather than furo: it is the theme of NumPy, SciPy, pandas and
# scikit-learn's site, so the readers this library is for know its layout (the sections in a
# top bar, the section's pages on the left, the page's contents on the right), and
# sphinx-gallery's pages are styled for it.
html_theme = "pydata_sphinx_theme"
html_title = f"mlpcore {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting_started": []}
html_show_sourcelink = False


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn adds set_{fit,score,...}_request to every estimator class (metadata
    # routing); they are scikit-learn's, documented there, and their docstrings cite
    # scikit-learn's glossary, which this site does not have.
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
