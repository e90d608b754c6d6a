"""Winnow: data curation and tokenization for language-model training, as Apache Beam jobs.

The same file ships Winnow to Dataflow workers (`--setup_file ./setup.py`): the worker requirements are
`install_requires`; torch is only in the `train` extra and never reaches a worker.
"""
from setuptools import setup

VERSION = "0.1.0"

# Ranges that resolve together on Python 3.11 (checked with pip's resolver on a clean virtualenv).
WORKER_REQUIREMENTS = [
    "apache-beam[gcp]>=2.70,<3",
    "trafilatura>=2.0,<3",
    "lxml>=5.3,<7",  # extraction walks trafilatura's tree with lxml's own XPath (pipelines/ingest/html.py)
    # jusText (under trafilatura) imports lxml_html_clean through lxml's `html_clean` extra, which lxml 6.2
    # dropped: without this line a fresh install turns every HTML page into an error row.
    "lxml_html_clean>=0.4",
    "datasketch>=1.6,<3",
    # fasttext 0.9.3 crashes in predict under NumPy 2; fasttext-numpy2 is the maintained fork (same module).
    "fasttext-numpy2>=0.10.4,<0.11",
    "tokenizers>=0.21,<0.24",
    "pyarrow>=16,<26",
    "numpy>=1.26,<2.5",
    "warcio>=1.7.4,<2",
    "pyyaml>=6,<7",
    "zstandard>=0.22",
    "tqdm>=4.66,<5",
    # extraction engines besides trafilatura (`extract: {engine: ...}`, pipelines/ingest/engines.py):
    # resiliparse (DCLM's extractor); rs-trafilatura publishes CPython 3.12 wheels only, so it is declared for
    # 3.12 and a recipe choosing it elsewhere is refused before the job
    "resiliparse>=2.0.1,<3",
    "rs-trafilatura>=0.1.1,<0.2; python_version == '3.12'",
    "brotli>=1.1",  # Content-Encoding: br payloads in web archives
    "charset-normalizer>=3",  # encoding detection for pages without a usable label
    # The tokenize job encodes with tiktoken when it can guarantee HF's ids (byte-identical shards), at about
    # half the CPU of HF's encode_batch; HF tokenizers remains the fallback and the trainer.
    "tiktoken>=0.7",
    # Gopher/FineWeb count words with spaCy's blank English tokenizer (rules only, no model), as datatrove does.
    "spacy>=3.7,<4",
    # pipelines/runtime/options.py and local_runner.py convert Beam's pipeline and endpoint protos (Beam pins the range).
    "protobuf>=4.25",
    # A Dataflow launch ships Winnow as an sdist that Beam builds with `python -m build --no-isolation --sdist`;
    # without `build` it printed "No module named build" (which reads as a failure) and fell back to
    # `setup.py sdist` (the same files).
    "build>=1",
]

setup(
    name="winnow-data",
    version=VERSION,
    description="Data curation and tokenization pipeline for training language models (Apache Beam)",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    # The data folders are listed as packages so that the sdist shipped to Dataflow workers carries them:
    # filters/assets holds lid.176.ftz (fetched at install time, never committed), pipelines/recipes the YAML.
    packages=["schemas", "filters", "filters.assets", "tokenizer", "pipelines", "pipelines.ingest",
              "pipelines.transforms", "pipelines.jobs", "pipelines.runtime", "pipelines.tools", "pipelines.demo",
              "pipelines.recipes", "training"],
    package_data={"filters.assets": ["*.ftz", "*.bin"], "pipelines.recipes": ["*.yaml"]},
    include_package_data=True,
    install_requires=WORKER_REQUIREMENTS,
    extras_require={
        # The dev setup installs torch==2.13.0 (the local CPU build) before this extra, which it satisfies.
        # fsspec lets the trainer read shards from gs:// or s3:// (training/data.py).
        "train": ["torch>=2.4", "fsspec>=2023.1"],
        # Test tools, and the libraries tests and benchmarks compare against or load our outputs with.
        # import-linter checks the import contracts in .importlinter (tests/test_layering.py).
        # pytest-xdist runs the test files in parallel (dev.sh test).
        "dev": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "pyflakes>=3", "import-linter>=2.1",
                "hypothesis>=6.100",
                "transformers>=4.45", "datasets>=3", "fastwarc>=0.14",
                # what megatron-core's IndexedDataset and streaming's StreamingDataset import (those two readers
                # themselves are installed without their declared dependencies by dev.sh: see there)
                "python-snappy>=0.7", "cramjam>=2.8", "zstd>=1.5", "xxhash>=3"],
    },
    entry_points={"console_scripts": ["winnow=pipelines.cli:main"]},
)
