"""hwai: compress trained networks into bit-exact, budget-checked FPGA firmware.

``import hwai`` stays light: TensorFlow, torch, hls4ml and pyoperon are imported only
by the steps and frontends that need them.
"""

__version__ = "0.1.0"
