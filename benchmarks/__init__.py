"""Speed and memory benchmarks of spen_keras (not installed with the wheel).

Each script runs from the repository root as `python -m benchmarks.NAME`;
what the scripts share is in `benchmarks.common`, the one module they import
from this folder (benchmarks/README.md describes each script).
"""
