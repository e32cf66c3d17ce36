"""Display names: long C++ signatures and install paths are shortened, short labels kept verbatim."""
from profiler.report.names import short_site

LIB = "/work/main/.venv/lib/python3.11/site-packages/llama_cpp/lib"


def test_signature_templates_and_module_path_shortened():
    label = (f"llama_model_loader::create_tensor(llama_hparams const&, std::vector<std::pair<ggml_backend_device*, "
             f"ggml_backend_buffer_type*>, std::allocator<std::pair<a*, b*> > > const*, int) const (in {LIB}/libllama.so)")
    assert short_site(label) == "llama_model_loader::create_tensor() (in libllama.so)"


def test_operator_names_survive():
    assert short_site(f"std::__detail::_Map_base<int, std::pair<int const, std::vector<unsigned int> > >::"
                      f"operator[](int const&) (in {LIB}/libllama.so)") == \
        "std::__detail::_Map_base<…>::operator[] (in libllama.so)"


def test_each_part_of_a_caller_chain_and_source_paths():
    assert short_site(f"??? (in {LIB}/libggml-base.so.0) <- ggml_backend_sched_reserve") == \
        "??? (in libggml-base.so.0) <- ggml_backend_sched_reserve"
    assert short_site("_call_function_pointer (/tmp/python-build.20260509073455.222/Python-3.11.7/"
                      "Modules/_ctypes/callproc.c:923)") == "_call_function_pointer (_ctypes/callproc.c:923)"


def test_short_labels_are_untouched():
    for label in ("leak_lost (/work/main/tests/workloads/planted.c:46)", "<script>alert(1)</script>", "main"):
        assert short_site(label) == label
