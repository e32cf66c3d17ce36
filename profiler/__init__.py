"""memprof: is the memory growth of a model-switching process a leak or a pool that plateaus?"""

__version__ = "0.1.0"
