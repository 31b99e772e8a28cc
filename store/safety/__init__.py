"""Safety: loading pickles, joblib and PyTorch files without running what they hold.

``loader`` is the restricted unpickler and scan, ``estimators`` and ``inspector`` describe what was loaded.
"""

from store.safety.loader import ScanResult, inspect_file, is_scannable, load_file, scan_file, scan_paths, scannable_files

__all__ = ["ScanResult", "inspect_file", "is_scannable", "load_file", "scan_file", "scan_paths", "scannable_files"]
