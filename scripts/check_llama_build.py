"""Fail the set-up when the installed llama-cpp-python build would stop Valgrind (AVX-512 code)."""
import re
import sys

try:
    import llama_cpp
except Exception as exc:  # pragma: no cover - set-up diagnostics
    sys.exit(f"llama-cpp-python is not importable: {exc}")

info = llama_cpp.llama_print_system_info().decode(errors="replace")
print(f"llama-cpp-python {llama_cpp.__version__}: {info.strip()}")
if re.search(r"\b(AVX512\w*|AMX\w*) = 1", info):
    sys.exit(
        "this llama-cpp-python build uses AVX-512, which Valgrind 3.19 cannot run; reinstall with\n"
        "  CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX2=ON' pip install --force-reinstall --no-cache-dir "
        "llama-cpp-python==0.3.36"
    )
