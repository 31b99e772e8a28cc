"""Safety: loading pickles, joblib and PyTorch files without running what they hold.
``loader`` loads and scans with ``unpickler`` (checked by ``resolution``, ``dtypes``, ``native_state``); ``torch_reader``
and ``safetensors_reader`` judge other formats; ``estimators`` and ``inspector`` describe what was loaded."""

from store.safety.loader import ScanResult, inspect_file, is_scannable, load_file, scan_file, scan_paths, scannable_files

__all__ = ["ScanResult", "inspect_file", "is_scannable", "load_file", "scan_file", "scan_paths", "scannable_files"]
