"""Metadata is in setup.cfg; this file only declares the compiled part: the heaptrack decoder's
per-line pass (profiler/parsers/_htdecode.c), built by `pip install -e .` like the rest."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("profiler.parsers._htdecode", ["profiler/parsers/_htdecode.c"],
                             extra_compile_args=["-O2"])])
