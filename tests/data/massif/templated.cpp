// Allocation sites whose names carry spaces, commas, brackets and namespaces, so the
// massif parser's label splitting is tested on real C++ frames (see make_fixtures.sh).
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace memprof_demo {
namespace detail {

template <typename K, typename V>
struct Cache {
    std::map<K, std::vector<V>> slots;
    __attribute__((noinline)) void fill(const K& key, std::size_t n) { slots[key].resize(n); }
};

}  // namespace detail

struct Buffer {
    explicit Buffer(std::size_t n) : data(new char[n]) {}
    std::unique_ptr<char[]> data;
};

template <int N>
__attribute__((noinline)) Buffer* make_buffers(std::vector<Buffer*>& keep) {
    Buffer* b = new Buffer(N * 1024);
    keep.push_back(b);
    return b;
}

}  // namespace memprof_demo

int main() {
    memprof_demo::detail::Cache<std::pair<int, long>, double> cache;
    std::vector<memprof_demo::Buffer*> keep;
    for (int i = 0; i < 8; i++) {
        cache.fill({i, 2L * i}, 4096);           // 32 KiB of doubles per key
        memprof_demo::make_buffers<16>(keep);    // 16 KiB per call
        memprof_demo::make_buffers<48>(keep);    // 48 KiB per call
    }
    for (auto* b : keep) delete b;
    return 0;
}
